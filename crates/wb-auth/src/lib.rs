//! Workbench authentication primitives: argon2id password hashes, the password policy
//! (NIST SP 800-63B), random tokens, and HMAC-signed state for forms and CSRF.

pub mod oidc;
pub mod password;
pub mod secretbox;
pub mod tokens;
pub mod totp;

pub use password::{PasswordError, PasswordPolicy, hash_password, verify_password};
pub use tokens::{Signer, random_token, sha256_hex, temporary_password};
