//! Workbench usernames. A username becomes the account name `username@<domain>`.

use serde::{Deserialize, Serialize};

pub const MIN_LEN: usize = 3;
pub const MAX_LEN: usize = 64;

/// The rules as they are stated on the sign-up page.
pub const RULES: &str = "3 to 64 characters: lower-case letters, digits, '.', '-' and '_'. \
Start with a letter or digit; no two dots in a row; do not end with a dot.";

/// Names that could be mistaken for the service itself or for a role mailbox.
const RESERVED: &[&str] = &[
    "abuse",
    "account",
    "accounts",
    "admin",
    "administrator",
    "api",
    "billing",
    "help",
    "helpdesk",
    "hostmaster",
    "info",
    "mailer-daemon",
    "no-reply",
    "noreply",
    "nobody",
    "postmaster",
    "privacy",
    "root",
    "security",
    "support",
    "system",
    "webmaster",
    "workbench",
];

/// A valid, lower-case username (without the domain).
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct Username(String);

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum UsernameError {
    #[error("Choose a username.")]
    Empty,
    #[error("A username is {MIN_LEN} to {MAX_LEN} characters long.")]
    Length,
    #[error("A username may contain only lower-case letters, digits, '.', '-' and '_'.")]
    Characters,
    #[error("A username starts with a letter or a digit.")]
    Start,
    #[error("A username may not end with a dot or contain two dots in a row.")]
    Dots,
    #[error("'{0}' is reserved. Choose another username.")]
    Reserved(String),
}

impl Username {
    /// Parses what a user typed. Upper-case letters are folded to lower case (addresses are
    /// case-insensitive); anything else outside the rules is refused, never silently changed.
    pub fn parse(input: &str) -> Result<Self, UsernameError> {
        let s = input.trim().to_ascii_lowercase();
        if s.is_empty() {
            return Err(UsernameError::Empty);
        }
        let len = s.chars().count();
        if !(MIN_LEN..=MAX_LEN).contains(&len) {
            return Err(UsernameError::Length);
        }
        if !s
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || matches!(c, '.' | '-' | '_'))
        {
            return Err(UsernameError::Characters);
        }
        if !s.starts_with(|c: char| c.is_ascii_alphanumeric()) {
            return Err(UsernameError::Start);
        }
        if s.ends_with('.') || s.contains("..") {
            return Err(UsernameError::Dots);
        }
        if RESERVED.contains(&s.as_str()) {
            return Err(UsernameError::Reserved(s));
        }
        Ok(Self(s))
    }

    /// Accepts either `name` or `name@domain` as typed at sign-in, when the domain is ours.
    pub fn parse_sign_in(input: &str, domain: &str) -> Result<Self, UsernameError> {
        let t = input.trim();
        match t.rsplit_once('@') {
            Some((name, d)) if d.eq_ignore_ascii_case(domain) => Self::parse(name),
            Some(_) => Err(UsernameError::Characters),
            None => Self::parse(t),
        }
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The full account name, `name@domain`.
    pub fn account_name(&self, domain: &str) -> String {
        format!("{}@{}", self.0, domain)
    }
}

impl std::fmt::Display for Username {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn examples() {
        assert_eq!(Username::parse(" Ada.L ").unwrap().as_str(), "ada.l");
        assert_eq!(Username::parse("ab"), Err(UsernameError::Length));
        assert_eq!(Username::parse("ada l"), Err(UsernameError::Characters));
        assert_eq!(Username::parse("_ada"), Err(UsernameError::Start));
        assert_eq!(Username::parse("ada."), Err(UsernameError::Dots));
        assert_eq!(Username::parse("a..da"), Err(UsernameError::Dots));
        assert_eq!(
            Username::parse("Admin"),
            Err(UsernameError::Reserved("admin".into()))
        );
        assert_eq!(
            Username::parse_sign_in("ada@Research.example", "research.example")
                .unwrap()
                .as_str(),
            "ada"
        );
        assert!(Username::parse_sign_in("ada@gmail.com", "research.example").is_err());
    }

    proptest! {
        #[test]
        fn parsed_usernames_obey_every_rule(s in "\\PC{0,70}") {
            if let Ok(u) = Username::parse(&s) {
                let v = u.as_str();
                prop_assert!((MIN_LEN..=MAX_LEN).contains(&v.len()));
                prop_assert!(v.chars().all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || ".-_".contains(c)));
                prop_assert!(!v.ends_with('.') && !v.contains(".."));
                prop_assert!(!RESERVED.contains(&v));
                // Parsing is idempotent.
                prop_assert_eq!(Username::parse(v).unwrap(), u.clone());
            }
        }
    }
}
