//! E-mail addresses as the workbench accepts them.

use serde::{Deserialize, Serialize};

/// A syntactically valid e-mail address, normalised: surrounding spaces removed and the domain
/// lower-cased. The local part keeps its case for display but compares case-insensitively
/// wherever agreements are checked.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct EmailAddress(String);

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum EmailError {
    #[error("Enter an e-mail address.")]
    Empty,
    #[error("An e-mail address has the form name@example.edu.")]
    Shape,
    #[error("An e-mail address may not contain spaces or control characters.")]
    Characters,
    #[error("This e-mail address is longer than 254 characters.")]
    TooLong,
}

impl EmailAddress {
    pub fn parse(input: &str) -> Result<Self, EmailError> {
        let s = input.trim();
        if s.is_empty() {
            return Err(EmailError::Empty);
        }
        if s.len() > 254 {
            return Err(EmailError::TooLong);
        }
        if s.chars()
            .any(|c| c.is_whitespace() || c.is_control() || "<>()[]\\,;:\"".contains(c))
        {
            return Err(EmailError::Characters);
        }
        let (local, domain) = s.rsplit_once('@').ok_or(EmailError::Shape)?;
        if local.is_empty() || local.len() > 64 || local.contains('@') {
            return Err(EmailError::Shape);
        }
        if local.starts_with('.') || local.ends_with('.') || local.contains("..") {
            return Err(EmailError::Shape);
        }
        let domain = domain.to_ascii_lowercase();
        let labels: Vec<&str> = domain.split('.').collect();
        if labels.len() < 2
            || labels.iter().any(|l| {
                l.is_empty()
                    || l.len() > 63
                    || l.starts_with('-')
                    || l.ends_with('-')
                    || !l.chars().all(|c| c.is_ascii_alphanumeric() || c == '-')
            })
        {
            return Err(EmailError::Shape);
        }
        Ok(Self(format!("{local}@{domain}")))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The part after `@`, lower case.
    pub fn domain(&self) -> &str {
        self.0.rsplit_once('@').map(|(_, d)| d).unwrap_or("")
    }

    /// Lower-cased whole address, the key used for uniqueness and agreement lists.
    pub fn canonical(&self) -> String {
        self.0.to_lowercase()
    }
}

impl std::fmt::Display for EmailAddress {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accepts_and_normalises() {
        let e = EmailAddress::parse("  Ada.Lovelace@Northfield.EXAMPLE ").unwrap();
        assert_eq!(e.as_str(), "Ada.Lovelace@northfield.example");
        assert_eq!(e.domain(), "northfield.example");
        assert_eq!(e.canonical(), "ada.lovelace@northfield.example");
    }

    #[test]
    fn refuses_bad_shapes() {
        for bad in [
            "",
            "ada",
            "ada@",
            "@x.org",
            "ada@localhost",
            "a b@x.org",
            "ada@x..org",
            "ada@-x.org",
            ".ada@x.org",
            "a..b@x.org",
            "ada@x.org>",
        ] {
            assert!(EmailAddress::parse(bad).is_err(), "{bad} should be refused");
        }
    }
}
