//! Passwords: argon2id hashing and the policy every chosen password must meet.
//!
//! Policy (NIST SP 800-63B-4 §3.1.1.2, for a password that is the only factor): at least
//! [`MIN_LENGTH`] characters, at most [`MAX_LENGTH`], no composition rules, and the whole
//! candidate is refused when it is a common or easily guessed password, or is built from the
//! user's own details. The guessability check uses zxcvbn's dictionaries of common passwords,
//! names and words, which ship inside the build.

use argon2::password_hash::rand_core::OsRng;
use argon2::password_hash::{PasswordHash, PasswordHasher, PasswordVerifier, SaltString};
use argon2::{Algorithm, Argon2, Params, Version};

pub const MIN_LENGTH: usize = 15;
pub const MAX_LENGTH: usize = 256;

/// Why a new password is refused. Each message tells the user what to do.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PasswordError {
    #[error(
        "Use at least {MIN_LENGTH} characters (this has {0}). A few unrelated words make a long password that is easy to remember."
    )]
    TooShort(usize),
    #[error("Use at most {MAX_LENGTH} characters.")]
    TooLong,
    #[error(
        "This password is on the list of common or easily guessed passwords{0}. Choose another: a few unrelated words work well."
    )]
    Guessable(String),
    #[error("Do not use your username, name, e-mail or the name of this service in your password.")]
    Personal,
    #[error("The two passwords do not match.")]
    Mismatch,
    #[error("Choose a password different from your temporary password.")]
    SameAsOld,
}

/// The policy with the words a password must not be built from.
pub struct PasswordPolicy<'a> {
    /// The username, names, e-mail, institution of the user.
    pub context: &'a [&'a str],
}

fn normalise(p: &str) -> String {
    // Compatibility normalisation keeps look-alike forms of the same text equal; the crate
    // set stays small by folding only the common case of full-width ASCII.
    p.chars()
        .map(|c| match c as u32 {
            0xFF01..=0xFF5E => char::from_u32(c as u32 - 0xFEE0).unwrap_or(c),
            _ => c,
        })
        .collect()
}

impl PasswordPolicy<'_> {
    /// Checks `candidate` (and its confirmation) against the policy.
    pub fn check(&self, candidate: &str, confirmation: &str) -> Result<(), PasswordError> {
        let len = candidate.chars().count();
        if len < MIN_LENGTH {
            return Err(PasswordError::TooShort(len));
        }
        if len > MAX_LENGTH {
            return Err(PasswordError::TooLong);
        }
        if candidate != confirmation {
            return Err(PasswordError::Mismatch);
        }
        let lower = normalise(candidate).to_lowercase();
        let squeezed: String = lower.chars().filter(|c| c.is_alphanumeric()).collect();
        let mut words: Vec<String> = vec!["workbench".into(), "researchworkbench".into()];
        for c in self.context {
            let c = c.to_lowercase();
            let whole: String = c.chars().filter(|ch| ch.is_alphanumeric()).collect();
            let local: String = c
                .split('@')
                .next()
                .unwrap_or("")
                .chars()
                .filter(|ch| ch.is_alphanumeric())
                .collect();
            let parts = c.split(|ch: char| !ch.is_alphanumeric()).map(str::to_owned);
            for w in parts.chain([whole, local]) {
                if w.chars().count() >= 3 && !words.contains(&w) {
                    words.push(w);
                }
            }
        }
        // A password that is mostly the user's own words (or this service's name) plus a
        // little padding is refused: strip those words and see how much is left.
        let mut by_length = words.clone();
        by_length.sort_by_key(|w| std::cmp::Reverse(w.len()));
        let mut residue = squeezed.clone();
        for w in &by_length {
            residue = residue.replace(w.as_str(), "");
        }
        if residue.len() < squeezed.len() && residue.chars().count() < 10 {
            return Err(PasswordError::Personal);
        }
        let inputs: Vec<&str> = words.iter().map(String::as_str).collect();
        let entropy = zxcvbn::zxcvbn(&lower, &inputs);
        if (entropy.score() as u8) < 3 {
            let hint = entropy
                .feedback()
                .and_then(|f| f.warning())
                .map(|w| format!(" ({w})"))
                .unwrap_or_default();
            return Err(PasswordError::Guessable(hint));
        }
        Ok(())
    }
}

fn hasher() -> Argon2<'static> {
    // OWASP's argon2id minimum: 19 MiB, 2 iterations, 1 lane.
    let params = Params::new(19 * 1024, 2, 1, None).expect("valid argon2 parameters");
    Argon2::new(Algorithm::Argon2id, Version::V0x13, params)
}

/// A PHC string (`$argon2id$v=19$m=…`) with a fresh random salt.
pub fn hash_password(password: &str) -> String {
    let salt = SaltString::generate(&mut OsRng);
    hasher()
        .hash_password(normalise(password).as_bytes(), &salt)
        .expect("argon2 hashing of a bounded password")
        .to_string()
}

/// Checks a password against a stored PHC string; a malformed hash never matches.
pub fn verify_password(password: &str, phc: &str) -> bool {
    match PasswordHash::new(phc) {
        Ok(parsed) => hasher()
            .verify_password(normalise(password).as_bytes(), &parsed)
            .is_ok(),
        Err(_) => false,
    }
}

/// A hash of a random password, to verify against when the account does not exist, so that
/// unknown and known usernames take the same time.
pub fn dummy_hash() -> &'static str {
    static DUMMY: std::sync::OnceLock<String> = std::sync::OnceLock::new();
    DUMMY.get_or_init(|| hash_password(&crate::tokens::random_token()))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn policy() -> PasswordPolicy<'static> {
        PasswordPolicy {
            context: &["ada.l", "Ada", "Lindqvist", "ada@northfield.example"],
        }
    }

    #[test]
    fn length_rules() {
        assert_eq!(
            policy().check("fjordmaple7kit", "fjordmaple7kit"),
            Err(PasswordError::TooShort(14))
        );
        assert!(
            policy()
                .check("fjord maple kite", "fjord maple kite")
                .is_ok()
        );
        let long = "x".repeat(MAX_LENGTH + 1);
        assert_eq!(policy().check(&long, &long), Err(PasswordError::TooLong));
        let p = "quilt harbor 🌊 lantern orchid velvet canyon thimble sparrow mosaic";
        assert!(
            policy().check(p, p).is_ok(),
            "64+ characters with emoji and spaces"
        );
    }

    #[test]
    fn no_composition_rules() {
        // Fifteen lower-case letters, not a known password: accepted.
        assert!(policy().check("qzvtrmplkwhdnbx", "qzvtrmplkwhdnbx").is_ok());
    }

    #[test]
    fn common_and_personal_passwords_are_refused() {
        for p in [
            "passwordpassword",
            "123456789012345",
            "aaaaaaaaaaaaaaaa",
            "qwertyuiopasdfgh",
            "iloveyou12345678",
        ] {
            assert!(
                matches!(policy().check(p, p), Err(PasswordError::Guessable(_))),
                "{p}"
            );
        }
        for p in ["lindqvist2026!!!", "workbench-ada.l", "ada.l-workbench1"] {
            assert_eq!(policy().check(p, p), Err(PasswordError::Personal), "{p}");
        }
        assert_eq!(
            policy().check("fjord maple kite", "fjord maple kit"),
            Err(PasswordError::Mismatch)
        );
    }

    #[test]
    fn hashes_are_salted_argon2id() {
        let a = hash_password("fjord maple kite");
        let b = hash_password("fjord maple kite");
        assert!(a.starts_with("$argon2id$"));
        assert_ne!(a, b);
        assert!(verify_password("fjord maple kite", &a));
        assert!(!verify_password("fjord maple kit", &a));
        assert!(!verify_password("anything", "not a hash"));
    }
}
