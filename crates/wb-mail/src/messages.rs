//! The workbench's e-mails, rendered from the askama templates in
//! `crates/wb-mail/templates/` as plain text plus an HTML alternative.
//!
//! Every e-mail has the same frame, written once: `base.txt` and
//! `base.html` hold the greeting, the sign-off ("The Researcher Workbench
//! team") and the support line ("Questions? Write to <support address>.");
//! `security_note.*` is the "if this was not you" paragraph of the security
//! notices and `parts.html` the button with its copy-the-link fallback.
//! Each e-mail's own template only fills in the body.
//!
//! Every interpolated value is cleaned to one line first (control characters
//! such as CR, LF and tab, and the Unicode line separators, become a space),
//! so a name cannot add lines to a body or headers to a subject, and is
//! HTML-escaped in the HTML part. The fixed text is short ASCII lines, so an
//! e-mail whose values are ASCII goes out as `7bit`; a value outside ASCII
//! (a name such as "Zoë") is fine too: lettre then sends that part as
//! quoted-printable or base64 and RFC 2047-encodes the subject, all UTF-8.
//! Lines such as `Your Username: <username>` stand alone so tests can parse
//! them.

use std::fmt;

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
    pub support_email: &'a str,
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
    pub support_email: &'a str,
}

/// Data of the notice to a new collaborator on a workspace.
#[derive(Debug, Clone, Copy)]
pub struct WorkspaceShared<'a> {
    /// The recipient's given name (the greeting).
    pub given_name: &'a str,
    /// Full name of the person who shared the workspace; also in the subject.
    pub sharer_name: &'a str,
    pub workspace_name: &'a str,
    /// The role's label: `Reader`, `Writer` or `Owner`.
    pub role: &'a str,
    /// Absolute link that opens the workspace.
    pub workspace_url: &'a str,
    pub support_email: &'a str,
}

/// Data of the notice that 2-step verification was turned on.
#[derive(Debug, Clone, Copy)]
pub struct TwoStepEnabled<'a> {
    pub given_name: &'a str,
    pub username: &'a str,
    /// Human-readable time it was turned on.
    pub when: &'a str,
    pub support_email: &'a str,
}

/// What changed in a user's 2-step verification.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TwoStepChange {
    /// A new authenticator app was set up.
    AuthenticatorApp,
    /// New recovery codes were generated.
    RecoveryCodes,
}

/// Data of the notice that 2-step verification was changed.
#[derive(Debug, Clone, Copy)]
pub struct TwoStepChanged<'a> {
    pub given_name: &'a str,
    pub username: &'a str,
    pub change: TwoStepChange,
    /// Human-readable time of the change.
    pub when: &'a str,
    pub support_email: &'a str,
}

/// Data of the reminder that a tier's access is about to expire.
#[derive(Debug, Clone, Copy)]
pub struct AccessExpiryReminder<'a> {
    pub given_name: &'a str,
    /// The tier's label, e.g. `Registered Tier`; also in the subject.
    pub tier: &'a str,
    /// Human-readable date, e.g. `Dec 5, 2026`; also in the subject.
    pub expires_on: &'a str,
    /// Absolute link to the Data Access Requirements page.
    pub requirements_url: &'a str,
    /// Labels of what to renew, in order (may be empty).
    pub renew: &'a [&'a str],
    pub support_email: &'a str,
}

/// Data of the request for manual identity verification, sent to the
/// administrators' address.
#[derive(Debug, Clone, Copy)]
pub struct IdentityVerificationRequested<'a> {
    pub full_name: &'a str,
    /// The username as `wb admin user …` takes it (e.g. `ada.l`); also in
    /// the subject and the command.
    pub username: &'a str,
    pub institution: &'a str,
    /// The user's contact e-mail address.
    pub contact_email: &'a str,
    /// Human-readable time of the request.
    pub when: &'a str,
    pub support_email: &'a str,
}

/// Data of the acknowledgement to a user who asked for manual identity
/// verification.
#[derive(Debug, Clone, Copy)]
pub struct IdentityVerificationRequestReceived<'a> {
    pub given_name: &'a str,
    /// Absolute link to the Data Access Requirements page.
    pub requirements_url: &'a str,
    pub support_email: &'a str,
}

/// Data of the notice that a user's profile was changed.
#[derive(Debug, Clone, Copy)]
pub struct ProfileUpdated<'a> {
    pub given_name: &'a str,
    pub username: &'a str,
    /// Human-readable time of the change.
    pub when: &'a str,
    /// Labels of the changed sections, e.g. `Contact information`.
    pub sections: &'a [&'a str],
    /// Absolute link to the user's profile page.
    pub profile_url: &'a str,
    pub support_email: &'a str,
}

const WELCOME_SUBJECT: &str = "Welcome to the Researcher Workbench";
const RESET_SUBJECT: &str = "Reset your Researcher Workbench password";
const CHANGED_SUBJECT: &str = "Your Researcher Workbench password was changed";
const INSTITUTION_SUBJECT: &str = "We received your institution request";
const TWO_STEP_ENABLED_SUBJECT: &str = "2-step verification was turned on";
const NEW_APP_SUBJECT: &str = "A new authenticator app was set up for your account";
const NEW_CODES_SUBJECT: &str = "New recovery codes were generated for your account";
const IDENTITY_RECEIVED_SUBJECT: &str = "We received your identity verification request";
const PROFILE_SUBJECT: &str = "Your Researcher Workbench profile was changed";

/// A value on one line: each run of control characters (CR, LF, tab, NUL,
/// ESC, DEL, C1, ...), Unicode line or paragraph separators and spaces
/// becomes one space, and the ends are trimmed. Its `Display` is the cleaned
/// text, so askama still HTML-escapes it in the HTML part.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Line(String);

impl Line {
    fn new(value: &str) -> Line {
        let breaks = |c: char| c == ' ' || c.is_control() || matches!(c, '\u{2028}' | '\u{2029}');
        let mut out = String::with_capacity(value.len());
        for word in value.split(breaks).filter(|w| !w.is_empty()) {
            if !out.is_empty() {
                out.push(' ');
            }
            out.push_str(word);
        }
        Line(out)
    }

    fn all(values: &[&str]) -> Vec<Line> {
        values.iter().map(|v| Line::new(v)).collect()
    }

    fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for Line {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// What `base.txt` and `base.html` show around every body.
struct Frame {
    /// For the HTML `<title>`.
    subject: Line,
    /// `Hello Ada,`, or `Hello,` without a name.
    greeting: Line,
    support_email: Line,
}

impl Frame {
    fn new(subject: &Line, name: Option<&str>, support_email: &str) -> Frame {
        let greeting = match name.map(Line::new) {
            Some(name) if !name.as_str().is_empty() => Line(format!("Hello {name},")),
            _ => Line("Hello,".to_owned()),
        };
        Frame {
            subject: subject.clone(),
            greeting,
            support_email: Line::new(support_email),
        }
    }
}

/// The body of one e-mail, rendered into the text and the HTML template.
trait Body {
    fn render(&self, frame: &Frame) -> (String, String);
}

/// Declares a body's view struct (every value a [`Line`]) and its two
/// templates. The templates see the frame as `frame` and the view as `v`.
macro_rules! body {
    ($view:ident, $text:tt, $html:tt, { $($field:ident: $ty:ty),* $(,)? }) => {
        struct $view {
            $($field: $ty,)*
        }

        impl Body for $view {
            fn render(&self, frame: &Frame) -> (String, String) {
                #[derive(Template)]
                #[template(path = $text, escape = "none")]
                struct Text<'a> {
                    frame: &'a Frame,
                    v: &'a $view,
                }

                #[derive(Template)]
                #[template(path = $html)]
                struct Html<'a> {
                    frame: &'a Frame,
                    v: &'a $view,
                }

                (
                    render(&Text { frame, v: self }),
                    render(&Html { frame, v: self }),
                )
            }
        }
    };
}

body!(WelcomeView, "welcome.txt", "welcome.html", {
    username: Line,
    temporary_password: Line,
    complete_registration_url: Line,
    expires_on: Line,
});

body!(PasswordResetView, "password_reset.txt", "password_reset.html", {
    username: Line,
    reset_url: Line,
    validity: Line,
});

body!(PasswordChangedView, "password_changed.txt", "password_changed.html", {
    username: Line,
    when: Line,
});

body!(InstitutionView, "institution_request_received.txt",
    "institution_request_received.html", {
    institution_name: Line,
});

body!(WorkspaceSharedView, "workspace_shared.txt", "workspace_shared.html", {
    sharer: Line,
    workspace: Line,
    role: Line,
    url: Line,
});

body!(TwoStepEnabledView, "two_step_enabled.txt", "two_step_enabled.html", {
    username: Line,
    when: Line,
});

body!(TwoStepChangedView, "two_step_changed.txt", "two_step_changed.html", {
    username: Line,
    change: TwoStepChange,
    when: Line,
});

body!(ExpiryReminderView, "access_expiry_reminder.txt",
    "access_expiry_reminder.html", {
    tier: Line,
    expires_on: Line,
    requirements_url: Line,
    renew: Vec<Line>,
});

body!(IdentityRequestedView, "identity_verification_requested.txt",
    "identity_verification_requested.html", {
    full_name: Line,
    username: Line,
    institution: Line,
    contact_email: Line,
    when: Line,
    command: Line,
});

body!(IdentityReceivedView, "identity_verification_request_received.txt",
    "identity_verification_request_received.html", {
    requirements_url: Line,
});

body!(ProfileUpdatedView, "profile_updated.txt", "profile_updated.html", {
    username: Line,
    when: Line,
    sections: Vec<Line>,
    profile_url: Line,
});

/// Renders a template whose fields all display infallibly: askama can only
/// fail when a field's `Display` impl fails, which [`Line`]'s never does.
fn render(template: &impl Template) -> String {
    let mut out = template
        .render()
        .expect("templates with string fields always render");
    if !out.ends_with('\n') {
        out.push('\n');
    }
    out
}

/// The e-mail: `subject` (already one line), the greeting for `name`, the
/// body and the support line naming `support_email`.
fn compose(
    to: &str,
    subject: Line,
    name: Option<&str>,
    support_email: &str,
    body: &impl Body,
) -> OutgoingEmail {
    let frame = Frame::new(&subject, name, support_email);
    let (text, html) = body.render(&frame);
    OutgoingEmail {
        to: to.to_owned(),
        subject: subject.0,
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

/// `word` as one shell word: as it is when it holds only characters no
/// shell treats specially, otherwise in single quotes.
fn shell_word(word: &str) -> String {
    let plain = !word.is_empty()
        && word
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '-' | '_' | '@'));
    if plain {
        word.to_owned()
    } else {
        format!("'{}'", word.replace('\'', r"'\''"))
    }
}

/// Welcome e-mail with the username and temporary password.
pub fn welcome(to: &str, w: &Welcome) -> OutgoingEmail {
    let body = WelcomeView {
        username: Line::new(w.username),
        temporary_password: Line::new(w.temporary_password),
        complete_registration_url: Line::new(w.complete_registration_url),
        expires_on: Line::new(w.expires_on),
    };
    let subject = Line::new(WELCOME_SUBJECT);
    compose(to, subject, Some(w.given_name), w.support_email, &body)
}

/// Password-reset e-mail with a single-use link.
pub fn password_reset(to: &str, r: &PasswordReset) -> OutgoingEmail {
    let body = PasswordResetView {
        username: Line::new(r.username),
        reset_url: Line::new(r.reset_url),
        validity: Line(minutes(r.valid_minutes)),
    };
    let subject = Line::new(RESET_SUBJECT);
    compose(to, subject, Some(r.given_name), r.support_email, &body)
}

/// Notice that the account's password was changed.
pub fn password_changed(to: &str, p: &PasswordChanged) -> OutgoingEmail {
    let body = PasswordChangedView {
        username: Line::new(p.username),
        when: Line::new(p.when),
    };
    let subject = Line::new(CHANGED_SUBJECT);
    compose(to, subject, Some(p.given_name), p.support_email, &body)
}

/// Acknowledgement of a request to add an institution.
pub fn institution_request_received(to: &str, r: &InstitutionRequestReceived) -> OutgoingEmail {
    let body = InstitutionView {
        institution_name: Line::new(r.institution_name),
    };
    let subject = Line::new(INSTITUTION_SUBJECT);
    compose(to, subject, Some(r.contact_name), r.support_email, &body)
}

/// Notice to a new collaborator that a workspace was shared with them.
/// Subject: `<sharer> shared a workspace with you`.
pub fn workspace_shared(to: &str, s: &WorkspaceShared) -> OutgoingEmail {
    let body = WorkspaceSharedView {
        sharer: Line::new(s.sharer_name),
        workspace: Line::new(s.workspace_name),
        role: Line::new(s.role),
        url: Line::new(s.workspace_url),
    };
    let subject = Line::new(&format!("{} shared a workspace with you", body.sharer));
    compose(to, subject, Some(s.given_name), s.support_email, &body)
}

/// Notice that 2-step verification was turned on for the account.
pub fn two_step_enabled(to: &str, t: &TwoStepEnabled) -> OutgoingEmail {
    let body = TwoStepEnabledView {
        username: Line::new(t.username),
        when: Line::new(t.when),
    };
    let subject = Line::new(TWO_STEP_ENABLED_SUBJECT);
    compose(to, subject, Some(t.given_name), t.support_email, &body)
}

/// Notice that the account's 2-step verification changed: a new
/// authenticator app, or new recovery codes.
pub fn two_step_changed(to: &str, t: &TwoStepChanged) -> OutgoingEmail {
    let body = TwoStepChangedView {
        username: Line::new(t.username),
        change: t.change,
        when: Line::new(t.when),
    };
    let subject = Line::new(match t.change {
        TwoStepChange::AuthenticatorApp => NEW_APP_SUBJECT,
        TwoStepChange::RecoveryCodes => NEW_CODES_SUBJECT,
    });
    compose(to, subject, Some(t.given_name), t.support_email, &body)
}

/// Reminder that a tier's access expires, with what to renew.
/// Subject: `Your <tier> access expires on <date>`.
pub fn access_expiry_reminder(to: &str, r: &AccessExpiryReminder) -> OutgoingEmail {
    let body = ExpiryReminderView {
        tier: Line::new(r.tier),
        expires_on: Line::new(r.expires_on),
        requirements_url: Line::new(r.requirements_url),
        renew: Line::all(r.renew),
    };
    let subject = Line::new(&format!(
        "Your {} access expires on {}",
        body.tier, body.expires_on
    ));
    compose(to, subject, Some(r.given_name), r.support_email, &body)
}

/// Request for manual identity verification, to the administrators, with
/// the `wb admin` command that records it.
/// Subject: `Identity verification requested by <full name> (<username>)`.
pub fn identity_verification_requested(
    to: &str,
    r: &IdentityVerificationRequested,
) -> OutgoingEmail {
    let username = Line::new(r.username);
    let command = Line(format!(
        "wb admin user verify-identity {} --reason \"...\"",
        shell_word(username.as_str())
    ));
    let body = IdentityRequestedView {
        full_name: Line::new(r.full_name),
        username,
        institution: Line::new(r.institution),
        contact_email: Line::new(r.contact_email),
        when: Line::new(r.when),
        command,
    };
    let subject = Line::new(&format!(
        "Identity verification requested by {} ({})",
        body.full_name, body.username
    ));
    compose(to, subject, None, r.support_email, &body)
}

/// Acknowledgement to a user who asked for manual identity verification.
pub fn identity_verification_request_received(
    to: &str,
    r: &IdentityVerificationRequestReceived,
) -> OutgoingEmail {
    let body = IdentityReceivedView {
        requirements_url: Line::new(r.requirements_url),
    };
    let subject = Line::new(IDENTITY_RECEIVED_SUBJECT);
    compose(to, subject, Some(r.given_name), r.support_email, &body)
}

/// Notice that the account's profile was changed, naming the sections.
pub fn profile_updated(to: &str, p: &ProfileUpdated) -> OutgoingEmail {
    let body = ProfileUpdatedView {
        username: Line::new(p.username),
        when: Line::new(p.when),
        sections: Line::all(p.sections),
        profile_url: Line::new(p.profile_url),
    };
    let subject = Line::new(PROFILE_SUBJECT);
    compose(to, subject, Some(p.given_name), p.support_email, &body)
}

#[cfg(test)]
mod tests {
    use mailparse::MailHeaderMap;

    use super::*;

    const SUPPORT: &str = "support@workbench.example.org";
    const SIGN_OFF: &str = "The Researcher Workbench team";
    const ACCOUNT: &str = "ada.l@researchworkbench.example";
    const WHEN: &str = "Nov 28, 2026 14:05 UTC";

    const WELCOME: Welcome<'static> = Welcome {
        given_name: "Ada",
        username: ACCOUNT,
        temporary_password: "Tmp-7qK2-xw9P",
        complete_registration_url: "https://workbench.example.org/login",
        expires_on: "Dec 5, 2026",
        support_email: SUPPORT,
    };

    fn reset() -> OutgoingEmail {
        password_reset(
            "ada@example.org",
            &PasswordReset {
                given_name: "Ada",
                username: ACCOUNT,
                reset_url: "https://workbench.example.org/reset?token=abc",
                valid_minutes: 30,
                support_email: SUPPORT,
            },
        )
    }

    fn changed() -> OutgoingEmail {
        password_changed(
            "ada@example.org",
            &PasswordChanged {
                given_name: "Ada",
                username: ACCOUNT,
                when: WHEN,
                support_email: SUPPORT,
            },
        )
    }

    fn institution() -> OutgoingEmail {
        institution_request_received(
            "grace@example.edu",
            &InstitutionRequestReceived {
                contact_name: "Grace",
                institution_name: "Example University",
                support_email: SUPPORT,
            },
        )
    }

    fn shared() -> OutgoingEmail {
        workspace_shared(
            "grace@example.edu",
            &WorkspaceShared {
                given_name: "Grace",
                sharer_name: "Morgan Lee",
                workspace_name: "Diabetes cohort 2026",
                role: "Writer",
                workspace_url: "https://workbench.example.org/workspaces/ws-7f3a",
                support_email: SUPPORT,
            },
        )
    }

    fn enabled() -> OutgoingEmail {
        two_step_enabled(
            "ada@example.org",
            &TwoStepEnabled {
                given_name: "Ada",
                username: ACCOUNT,
                when: WHEN,
                support_email: SUPPORT,
            },
        )
    }

    fn two_step(change: TwoStepChange) -> OutgoingEmail {
        two_step_changed(
            "ada@example.org",
            &TwoStepChanged {
                given_name: "Ada",
                username: ACCOUNT,
                change,
                when: WHEN,
                support_email: SUPPORT,
            },
        )
    }

    fn reminder(renew: &[&str]) -> OutgoingEmail {
        access_expiry_reminder(
            "ada@example.org",
            &AccessExpiryReminder {
                given_name: "Ada",
                tier: "Registered Tier",
                expires_on: "Dec 5, 2026",
                requirements_url: "https://workbench.example.org/data-access-requirements",
                renew,
                support_email: SUPPORT,
            },
        )
    }

    const RENEW: &[&str] = &[
        "Responsible Conduct of Research training",
        "Data User Code of Conduct",
    ];

    fn identity_requested(username: &str) -> OutgoingEmail {
        identity_verification_requested(
            "admins@workbench.example.org",
            &IdentityVerificationRequested {
                full_name: "Ada Lovelace",
                username,
                institution: "Northfield University",
                contact_email: "ada@northfield.example",
                when: WHEN,
                support_email: SUPPORT,
            },
        )
    }

    fn identity_received() -> OutgoingEmail {
        identity_verification_request_received(
            "ada@northfield.example",
            &IdentityVerificationRequestReceived {
                given_name: "Ada",
                requirements_url: "https://workbench.example.org/data-access-requirements",
                support_email: SUPPORT,
            },
        )
    }

    fn profile() -> OutgoingEmail {
        profile_updated(
            "ada@northfield.example",
            &ProfileUpdated {
                given_name: "Ada",
                username: ACCOUNT,
                when: WHEN,
                sections: &["Contact information", "Demographics"],
                profile_url: "https://workbench.example.org/profile",
                support_email: SUPPORT,
            },
        )
    }

    /// Every e-mail with realistic values.
    fn realistic() -> Vec<OutgoingEmail> {
        vec![
            welcome("ada@example.org", &WELCOME),
            reset(),
            changed(),
            institution(),
            shared(),
            enabled(),
            two_step(TwoStepChange::AuthenticatorApp),
            two_step(TwoStepChange::RecoveryCodes),
            reminder(RENEW),
            reminder(&[]),
            identity_requested("ada.l"),
            identity_received(),
            profile(),
        ]
    }

    /// Every e-mail (both kinds of 2-step change) with every text value set
    /// to `v`, except the support address.
    fn every_email(v: &str, support_email: &str) -> Vec<OutgoingEmail> {
        let to = "ada@example.org";
        let list = [v, v];
        vec![
            welcome(
                to,
                &Welcome {
                    given_name: v,
                    username: v,
                    temporary_password: v,
                    complete_registration_url: v,
                    expires_on: v,
                    support_email,
                },
            ),
            password_reset(
                to,
                &PasswordReset {
                    given_name: v,
                    username: v,
                    reset_url: v,
                    valid_minutes: 30,
                    support_email,
                },
            ),
            password_changed(
                to,
                &PasswordChanged {
                    given_name: v,
                    username: v,
                    when: v,
                    support_email,
                },
            ),
            institution_request_received(
                to,
                &InstitutionRequestReceived {
                    contact_name: v,
                    institution_name: v,
                    support_email,
                },
            ),
            workspace_shared(
                to,
                &WorkspaceShared {
                    given_name: v,
                    sharer_name: v,
                    workspace_name: v,
                    role: v,
                    workspace_url: v,
                    support_email,
                },
            ),
            two_step_enabled(
                to,
                &TwoStepEnabled {
                    given_name: v,
                    username: v,
                    when: v,
                    support_email,
                },
            ),
            two_step_changed(
                to,
                &TwoStepChanged {
                    given_name: v,
                    username: v,
                    change: TwoStepChange::AuthenticatorApp,
                    when: v,
                    support_email,
                },
            ),
            two_step_changed(
                to,
                &TwoStepChanged {
                    given_name: v,
                    username: v,
                    change: TwoStepChange::RecoveryCodes,
                    when: v,
                    support_email,
                },
            ),
            access_expiry_reminder(
                to,
                &AccessExpiryReminder {
                    given_name: v,
                    tier: v,
                    expires_on: v,
                    requirements_url: v,
                    renew: &list,
                    support_email,
                },
            ),
            identity_verification_requested(
                to,
                &IdentityVerificationRequested {
                    full_name: v,
                    username: v,
                    institution: v,
                    contact_email: v,
                    when: v,
                    support_email,
                },
            ),
            identity_verification_request_received(
                to,
                &IdentityVerificationRequestReceived {
                    given_name: v,
                    requirements_url: v,
                    support_email,
                },
            ),
            profile_updated(
                to,
                &ProfileUpdated {
                    given_name: v,
                    username: v,
                    when: v,
                    sections: &list,
                    profile_url: v,
                    support_email,
                },
            ),
        ]
    }

    fn html(m: &OutgoingEmail) -> &str {
        m.html.as_deref().expect("every e-mail has an HTML part")
    }

    fn has_line(part: &str, line: &str) -> bool {
        part.lines().any(|l| l == line)
    }

    /// The subjects of the security notices.
    fn is_security_notice(m: &OutgoingEmail) -> bool {
        [
            CHANGED_SUBJECT,
            TWO_STEP_ENABLED_SUBJECT,
            NEW_APP_SUBJECT,
            NEW_CODES_SUBJECT,
            PROFILE_SUBJECT,
        ]
        .contains(&m.subject.as_str())
    }

    #[test]
    fn every_email_has_greeting_sign_off_and_support_line() {
        let all = every_email("Ada", SUPPORT);
        assert_eq!(all.len(), 12);
        for m in &all {
            let admin = m.subject.starts_with("Identity verification requested by");
            let (text_greeting, html_greeting) = if admin {
                ("Hello,\n\n", "<p>Hello,</p>")
            } else {
                ("Hello Ada,\n\n", "<p>Hello Ada,</p>")
            };
            assert!(
                m.text.starts_with(text_greeting),
                "{}:\n{}",
                m.subject,
                m.text
            );
            assert!(
                m.text.ends_with(&format!(
                    "\n\n{SIGN_OFF}\n\nQuestions? Write to {SUPPORT}.\n"
                )),
                "{}:\n{}",
                m.subject,
                m.text
            );
            assert_eq!(m.text.matches(SIGN_OFF).count(), 1, "{}", m.subject);
            let h = html(m);
            assert!(h.contains(html_greeting), "{}:\n{h}", m.subject);
            assert_eq!(
                h.matches(&format!("<p>{SIGN_OFF}</p>")).count(),
                1,
                "{}",
                m.subject
            );
            assert!(
                h.contains(&format!(
                    "<p>Questions? Write to\n<a href=\"mailto:{SUPPORT}\">\n{SUPPORT}</a>.</p>"
                )),
                "{}:\n{h}",
                m.subject
            );
            assert!(h.contains(&format!("<title>{}</title>", m.subject)));
            // The sign-off comes after the body, the support line last.
            let body_end = h.find(&format!("<p>{SIGN_OFF}</p>")).unwrap();
            assert!(body_end > h.find(html_greeting).unwrap());
            assert!(h.find("Questions? Write to").unwrap() > body_end);
        }
    }

    #[test]
    fn security_notices_say_what_to_do_if_it_was_not_you() {
        let all = realistic();
        let notices: Vec<&OutgoingEmail> = all.iter().filter(|m| is_security_notice(m)).collect();
        assert_eq!(notices.len(), 5);
        for m in notices {
            assert!(
                m.text.contains(&format!(
                    "If this was not you, someone else may have access to your account:\n\
                     contact {SUPPORT} at once."
                )),
                "{}:\n{}",
                m.subject,
                m.text
            );
            let h = html(m);
            assert!(h.contains("<strong>If this was not you</strong>"), "{h}");
            assert!(h.contains(&format!(
                "<a href=\"mailto:{SUPPORT}\">\n{SUPPORT}</a> at once."
            )));
        }
        for m in all.iter().filter(|m| !is_security_notice(m)) {
            assert!(!m.text.contains("If this was not you"), "{}", m.subject);
        }
    }

    #[test]
    fn welcome_text_has_parseable_credential_lines() {
        let m = welcome("ada@example.org", &WELCOME);
        assert_eq!(m.subject, "Welcome to the Researcher Workbench");
        assert!(has_line(
            &m.text,
            "Your Username: ada.l@researchworkbench.example"
        ));
        assert!(has_line(&m.text, "Your Temporary Password: Tmp-7qK2-xw9P"));
        assert!(has_line(
            &m.text,
            "This temporary password expires on Dec 5, 2026."
        ));
        assert!(has_line(
            &m.text,
            "Complete Registration: https://workbench.example.org/login"
        ));
        for needle in [
            "This process should take 90 to 120 minutes",
            "2-step verification",
            "verify your identity",
            "Responsible Conduct of Research",
            "(Optional) Controlled Tier training",
            "Sign the Data User Code of Conduct",
        ] {
            assert!(m.text.contains(needle), "missing {needle:?}");
        }
        assert!(!m.text.contains("60-90"));
        let html = m.html.unwrap();
        assert!(html.contains("This process should take 90 to 120 minutes"));
        assert!(!html.contains("60-90"));
        assert!(has_line(
            &html,
            "Your Username: ada.l@researchworkbench.example"
        ));
        assert!(has_line(&html, "Your Temporary Password: Tmp-7qK2-xw9P"));
        assert!(html.contains("COMPLETE REGISTRATION"));
        assert!(html.contains("href=\"https://workbench.example.org/login\""));
    }

    #[test]
    fn reset_changed_and_institution_wording() {
        let reset = reset();
        assert_eq!(reset.subject, "Reset your Researcher Workbench password");
        assert!(has_line(
            &reset.text,
            "https://workbench.example.org/reset?token=abc"
        ));
        assert!(reset.text.contains("used only once"));
        assert!(reset.text.contains("valid for 30 minutes"));
        assert!(
            reset
                .text
                .contains("If you did not ask to reset your password")
        );
        assert!(html(&reset).contains("href=\"https://workbench.example.org/reset?token=abc\""));
        assert!(html(&reset).contains("RESET PASSWORD"));
        let one = password_reset(
            "ada@example.org",
            &PasswordReset {
                valid_minutes: 1,
                ..PasswordReset {
                    given_name: "Ada",
                    username: ACCOUNT,
                    reset_url: "https://workbench.example.org/reset?token=abc",
                    valid_minutes: 30,
                    support_email: SUPPORT,
                }
            },
        );
        assert!(one.text.contains("valid for 1 minute."));

        let changed = changed();
        assert_eq!(
            changed.subject,
            "Your Researcher Workbench password was changed"
        );
        assert!(changed.text.contains("was changed"));
        assert!(has_line(&changed.text, &format!("Changed: {WHEN}")));
        assert!(has_line(html(&changed), &format!("Changed: {WHEN}")));

        let inst = institution();
        assert_eq!(inst.subject, "We received your institution request");
        assert!(has_line(&inst.text, "Institution: Example University"));
        assert!(html(&inst).contains("<strong>Example University</strong>"));
        assert!(inst.text.starts_with("Hello Grace,\n"));
    }

    #[test]
    fn workspace_shared_names_sharer_workspace_role_and_link() {
        let m = shared();
        assert_eq!(m.to, "grace@example.edu");
        assert_eq!(m.subject, "Morgan Lee shared a workspace with you");
        assert!(m.text.starts_with("Hello Grace,\n"));
        assert!(m.text.contains("Morgan Lee shared a workspace with you"));
        assert!(has_line(&m.text, "Workspace: Diabetes cohort 2026"));
        assert!(has_line(&m.text, "Your role: Writer"));
        assert!(has_line(
            &m.text,
            "https://workbench.example.org/workspaces/ws-7f3a"
        ));
        let h = html(&m);
        assert!(h.contains("<strong>Morgan Lee</strong> shared a workspace"));
        assert!(has_line(h, "Workspace: Diabetes cohort 2026"));
        assert!(has_line(h, "Your role: Writer"));
        assert!(h.contains("href=\"https://workbench.example.org/workspaces/ws-7f3a\""));
        assert!(h.contains("OPEN WORKSPACE"));
    }

    #[test]
    fn two_step_enabled_names_account_and_date() {
        let m = enabled();
        assert_eq!(m.subject, "2-step verification was turned on");
        for part in [m.text.as_str(), html(&m)] {
            assert!(part.contains("2-step verification was turned on for your"));
            assert!(has_line(part, &format!("Your Username: {ACCOUNT}")));
            assert!(has_line(part, &format!("Turned on: {WHEN}")));
        }
    }

    #[test]
    fn two_step_changed_says_what_changed() {
        let app = two_step(TwoStepChange::AuthenticatorApp);
        let codes = two_step(TwoStepChange::RecoveryCodes);
        assert_eq!(
            app.subject,
            "A new authenticator app was set up for your account"
        );
        assert_eq!(
            codes.subject,
            "New recovery codes were generated for your account"
        );
        for part in [app.text.as_str(), html(&app)] {
            assert!(part.contains("A new authenticator app was set up for the 2-step"));
            assert!(!part.contains("recovery codes"));
            assert!(has_line(part, &format!("Your Username: {ACCOUNT}")));
            assert!(has_line(part, &format!("Changed: {WHEN}")));
        }
        for part in [codes.text.as_str(), html(&codes)] {
            assert!(part.contains("New recovery codes were generated for the 2-step"));
            assert!(!part.contains("authenticator app"));
            assert!(has_line(part, &format!("Changed: {WHEN}")));
        }
    }

    #[test]
    fn expiry_reminder_lists_what_to_renew() {
        let m = reminder(RENEW);
        assert_eq!(
            m.subject,
            "Your Registered Tier access expires on Dec 5, 2026"
        );
        assert!(m.text.contains(
            "Your Registered Tier access to the Researcher Workbench\nexpires on Dec 5, 2026."
        ));
        assert!(m.text.contains(
            "renew these on your Data Access Requirements page:\n\
             - Responsible Conduct of Research training\n\
             - Data User Code of Conduct\n"
        ));
        assert!(has_line(
            &m.text,
            "https://workbench.example.org/data-access-requirements"
        ));
        let kept = "Your workspaces and your work in them are kept while access lapses,\n\
                    but you cannot open them until you renew.";
        assert!(m.text.contains(kept), "{}", m.text);
        let h = html(&m);
        assert!(h.contains("<strong>Registered Tier</strong>"));
        assert!(h.contains("<strong>Dec 5, 2026</strong>"));
        assert!(h.contains("<li>Responsible Conduct of Research training</li>"));
        assert!(h.contains("<li>Data User Code of Conduct</li>"));
        assert!(h.contains("href=\"https://workbench.example.org/data-access-requirements\""));
        assert!(h.contains(kept));

        let none = reminder(&[]);
        assert!(none.text.contains("renew what is due on your Data Access"));
        assert!(!none.text.lines().any(|l| l.starts_with("- ")));
        assert!(!html(&none).contains("<li>"));
        assert!(none.text.contains(kept));
    }

    #[test]
    fn identity_request_gives_the_admins_the_facts_and_the_command() {
        let m = identity_requested("ada.l");
        assert_eq!(m.to, "admins@workbench.example.org");
        assert_eq!(
            m.subject,
            "Identity verification requested by Ada Lovelace (ada.l)"
        );
        assert!(m.text.starts_with("Hello,\n\n"));
        let command = "wb admin user verify-identity ada.l --reason \"...\"";
        for line in [
            "Name: Ada Lovelace",
            "Username: ada.l",
            "Institution: Northfield University",
            "Contact e-mail: ada@northfield.example",
            &format!("Requested: {WHEN}"),
        ] {
            assert!(has_line(&m.text, line), "{line}: {}", m.text);
            assert!(has_line(html(&m), line), "{line}");
        }
        assert!(has_line(&m.text, &format!("  {command}")), "{}", m.text);
        assert!(html(&m).contains("wb admin user verify-identity ada.l --reason &#34;...&#34;"));

        // A username a shell would split is quoted in the command.
        let odd = identity_requested("ada l'; rm -rf ~");
        assert!(
            odd.text
                .contains("verify-identity 'ada l'\\''; rm -rf ~' --reason"),
            "{}",
            odd.text
        );
    }

    #[test]
    fn shell_word_quotes_only_when_needed() {
        assert_eq!(shell_word("ada.l"), "ada.l");
        assert_eq!(shell_word("ada_l-2@x.org"), "ada_l-2@x.org");
        assert_eq!(shell_word(""), "''");
        assert_eq!(shell_word("a b"), "'a b'");
        assert_eq!(shell_word("$(id)"), "'$(id)'");
        assert_eq!(shell_word("it's"), r"'it'\''s'");
    }

    #[test]
    fn identity_request_received_points_to_the_requirements_page() {
        let m = identity_received();
        assert_eq!(m.subject, "We received your identity verification request");
        assert!(m.text.starts_with("Hello Ada,\n"));
        for part in [m.text.as_str(), html(&m)] {
            assert!(part.contains("We received your request to verify your identity"));
            assert!(part.contains("An administrator will verify your identity."));
            assert!(part.contains("Data Access Requirements page"));
        }
        assert!(has_line(
            &m.text,
            "https://workbench.example.org/data-access-requirements"
        ));
        assert!(
            html(&m).contains("href=\"https://workbench.example.org/data-access-requirements\"")
        );
    }

    #[test]
    fn profile_updated_names_the_sections() {
        let m = profile();
        assert_eq!(m.subject, "Your Researcher Workbench profile was changed");
        assert!(
            m.text
                .contains("What changed:\n- Contact information\n- Demographics\n")
        );
        for part in [m.text.as_str(), html(&m)] {
            assert!(has_line(part, &format!("Your Username: {ACCOUNT}")));
            assert!(has_line(part, &format!("Changed: {WHEN}")));
        }
        assert!(has_line(&m.text, "https://workbench.example.org/profile"));
        let h = html(&m);
        assert!(h.contains("<li>Contact information</li>\n<li>Demographics</li>"));
        assert!(h.contains("href=\"https://workbench.example.org/profile\""));
    }

    #[test]
    fn no_third_party_branding() {
        for m in realistic() {
            for part in [m.text.as_str(), html(&m)] {
                let lower = part.to_lowercase();
                assert!(!lower.contains("google"));
                assert!(!lower.contains("all of us"));
            }
        }
    }

    #[test]
    fn lines_are_short_ascii() {
        for m in realistic() {
            assert!(m.subject.is_ascii(), "{}", m.subject);
            for part in [m.text.as_str(), html(&m)] {
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
        for m in every_email(evil, evil) {
            let h = html(&m);
            assert!(!h.contains("<script>"), "{}:\n{h}", m.subject);
            assert!(
                h.contains("&#60;script&#62;alert(1)&#60;/script&#62;"),
                "{h}"
            );
            // The text part is not HTML and carries the values verbatim.
            assert!(m.text.contains(evil), "{}", m.text);
        }
        let subjects: Vec<String> = every_email(evil, SUPPORT)
            .into_iter()
            .map(|m| m.subject)
            .collect();
        assert!(subjects.contains(&format!("{evil} shared a workspace with you")));

        let m = welcome(
            "ada@example.org",
            &Welcome {
                temporary_password: "a&b\"c<d",
                complete_registration_url: "https://x.example/\"><img src=x>",
                ..WELCOME
            },
        );
        let h = html(&m);
        assert!(!h.contains("<img"), "{h}");
        assert!(!h.contains("a&b"), "{h}");
        assert!(h.contains("href=\"https://x.example/&#34;&#62;&#60;img src=x&#62;\""));
        assert!(m.text.contains("Your Temporary Password: a&b\"c<d\n"));
    }

    #[test]
    fn line_is_one_line_without_control_characters() {
        assert_eq!(Line::new("  Ada \r\n Lovelace\t").as_str(), "Ada Lovelace");
        assert_eq!(
            Line::new("a\u{0}b\u{7f}c\u{85}d\u{1b}e").as_str(),
            "a b c d e"
        );
        assert_eq!(Line::new("a\u{2028}b\u{2029}c").as_str(), "a b c");
        assert_eq!(Line::new("Zoë Ñúñez 李").as_str(), "Zoë Ñúñez 李");
        assert_eq!(Line::new("\r\n").as_str(), "");
        assert_eq!(
            Line::all(&["a\nb", "c"]),
            vec![Line::new("a b"), Line::new("c")]
        );
    }

    /// A value with CR/LF and other control characters (the header-injection
    /// case) adds no header, no line and no control character anywhere.
    #[test]
    fn control_characters_cannot_add_headers_or_lines() {
        let hostile = "Eve\r\nBcc: eve@example.org\nX-Injected: 1\r\u{2028}\u{1b}[0m\t2";
        let cleaned = "Eve Bcc: eve@example.org X-Injected: 1 [0m 2";
        let (mailer, _) = crate::Mailer::memory("no-reply@workbench.example.org");
        let all = every_email(hostile, SUPPORT);
        for m in &all {
            for part in [m.subject.as_str(), m.text.as_str(), html(m)] {
                assert!(
                    !part.chars().any(|c| c != '\n' && c.is_control()),
                    "{part:?}"
                );
                assert!(!part.contains('\u{2028}'));
                for line in part.lines() {
                    assert!(!line.starts_with("Bcc:"), "{}: {line:?}", m.subject);
                    assert!(!line.starts_with("X-Injected:"), "{}: {line:?}", m.subject);
                }
            }
            assert!(!m.subject.contains('\n'));
            assert!(m.text.contains(cleaned), "{}", m.text);

            let raw = mailer.build_message(m).unwrap().formatted();
            let parsed = mailparse::parse_mail(&raw).unwrap();
            let names: Vec<String> = parsed.headers.iter().map(|h| h.get_key()).collect();
            assert_eq!(
                names,
                [
                    "From",
                    "To",
                    "Subject",
                    "Message-ID",
                    "MIME-Version",
                    "Date",
                    "Content-Type"
                ],
                "{}",
                String::from_utf8_lossy(&raw)
            );
            assert_eq!(
                parsed.headers.get_first_value("Subject").as_deref(),
                Some(m.subject.as_str())
            );
        }
        assert!(
            all.iter()
                .any(|m| m.subject == format!("{cleaned} shared a workspace with you"))
        );
        assert!(
            all.iter().any(|m| m.subject
                == format!("Identity verification requested by {cleaned} ({cleaned})"))
        );
        assert!(
            all.iter()
                .any(|m| m.subject == format!("Your {cleaned} access expires on {cleaned}"))
        );
    }

    /// Names outside ASCII are kept in UTF-8: lettre encodes the subject
    /// (RFC 2047) and the parts (quoted-printable or base64), so the message
    /// itself stays ASCII and decodes back to the same text.
    #[test]
    fn non_ascii_names_survive_encoding() {
        let m = workspace_shared(
            "grace@example.edu",
            &WorkspaceShared {
                given_name: "Grâce",
                sharer_name: "Zoë Ñúñez 李",
                workspace_name: "Étude café",
                role: "Reader",
                workspace_url: "https://workbench.example.org/workspaces/ws-1",
                support_email: SUPPORT,
            },
        );
        assert_eq!(m.subject, "Zoë Ñúñez 李 shared a workspace with you");
        assert!(m.text.starts_with("Hello Grâce,\n"));
        assert!(html(&m).contains("<strong>Zoë Ñúñez 李</strong>"));
        let (mailer, _) = crate::Mailer::memory("no-reply@workbench.example.org");
        let raw = mailer.build_message(&m).unwrap().formatted();
        assert!(raw.is_ascii());
        let raw_text = String::from_utf8(raw.clone()).unwrap();
        assert!(raw_text.contains("charset=utf-8"), "{raw_text}");
        let parsed = mailparse::parse_mail(&raw).unwrap();
        assert_eq!(
            parsed.headers.get_first_value("Subject").as_deref(),
            Some(m.subject.as_str())
        );
        let text = parsed.subparts[0].get_body().unwrap();
        let html_part = parsed.subparts[1].get_body().unwrap();
        assert!(text.contains("Zoë Ñúñez 李 shared a workspace"), "{text}");
        assert!(has_line(&text.replace('\r', ""), "Workspace: Étude café"));
        assert!(html_part.contains("<strong>Zoë Ñúñez 李</strong>"));
    }
}
