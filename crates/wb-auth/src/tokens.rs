//! Random secrets and HMAC-signed values.

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use hmac::{Hmac, Mac};
use rand::Rng;
use rand::rngs::OsRng;
use sha2::{Digest, Sha256};

/// 256 random bits from the OS, base64url without padding (43 characters).
pub fn random_token() -> String {
    let mut bytes = [0u8; 32];
    OsRng.fill(&mut bytes);
    URL_SAFE_NO_PAD.encode(bytes)
}

/// Lower-case hex SHA-256: how session ids and link tokens are kept at rest.
pub fn sha256_hex(value: &str) -> String {
    Sha256::digest(value.as_bytes())
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

/// A temporary password: 17 characters drawn uniformly from letters, digits and a few
/// symbols, avoiding look-alikes (0/O, 1/l/I) so it can be typed from an e-mail.
pub fn temporary_password() -> String {
    const CHARS: &[u8] = b"ABCDEFGHJKLMNPQRSTUVWXYZabcdefghijkmnopqrstuvwxyz23456789!@#$%*";
    let mut rng = OsRng;
    (0..17)
        .map(|_| CHARS[rng.gen_range(0..CHARS.len())] as char)
        .collect()
}

/// Signs and checks values with HMAC-SHA-256 under the server's secret key.
#[derive(Clone)]
pub struct Signer {
    key: Vec<u8>,
}

impl std::fmt::Debug for Signer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Signer(..)")
    }
}

type HmacSha256 = Hmac<Sha256>;

impl Signer {
    pub fn new(key: &[u8]) -> Self {
        assert!(
            key.len() >= 32,
            "the signing key must have at least 256 bits"
        );
        Self { key: key.to_vec() }
    }

    fn mac(&self, purpose: &str, data: &[u8]) -> HmacSha256 {
        let mut mac = HmacSha256::new_from_slice(&self.key).expect("HMAC takes any key length");
        mac.update(purpose.as_bytes());
        mac.update(b"\0");
        mac.update(data);
        mac
    }

    /// A tag binding `data` to `purpose`, base64url.
    pub fn tag(&self, purpose: &str, data: &str) -> String {
        URL_SAFE_NO_PAD.encode(self.mac(purpose, data.as_bytes()).finalize().into_bytes())
    }

    /// Constant-time check of a tag made by [`Signer::tag`].
    pub fn verify_tag(&self, purpose: &str, data: &str, tag: &str) -> bool {
        match URL_SAFE_NO_PAD.decode(tag) {
            Ok(bytes) => self
                .mac(purpose, data.as_bytes())
                .verify_slice(&bytes)
                .is_ok(),
            Err(_) => false,
        }
    }

    /// Serialises `value` as JSON and signs it: `<base64url json>.<tag>`, with an expiry.
    pub fn seal<T: serde::Serialize>(&self, purpose: &str, value: &T, expires_at: i64) -> String {
        let body = serde_json::json!({ "v": value, "exp": expires_at });
        let payload = URL_SAFE_NO_PAD.encode(body.to_string());
        let tag = self.tag(purpose, &payload);
        format!("{payload}.{tag}")
    }

    /// Opens a value sealed by [`Signer::seal`] for the same purpose; `None` when it was
    /// altered, made for another purpose, or has expired at `now`.
    pub fn open<T: serde::de::DeserializeOwned>(
        &self,
        purpose: &str,
        sealed: &str,
        now: i64,
    ) -> Option<T> {
        let (payload, tag) = sealed.trim().rsplit_once('.')?;
        if !self.verify_tag(purpose, payload, tag) {
            return None;
        }
        let json = URL_SAFE_NO_PAD.decode(payload).ok()?;
        let body: serde_json::Value = serde_json::from_slice(&json).ok()?;
        if body.get("exp")?.as_i64()? <= now {
            return None;
        }
        serde_json::from_value(body.get("v")?.clone()).ok()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens_are_random_and_long() {
        let a = random_token();
        assert_eq!(a.len(), 43);
        assert_ne!(a, random_token());
        assert_eq!(sha256_hex("abc").len(), 64);
        let t = temporary_password();
        assert_eq!(t.chars().count(), 17);
        assert!(!t.contains(['0', 'O', 'l', '1', 'I']));
    }

    #[test]
    fn sealed_values_resist_tampering() {
        let s = Signer::new(&[7u8; 32]);
        let sealed = s.seal("signup", &("ada", 3), 100);
        assert_eq!(
            s.open::<(String, i32)>("signup", &sealed, 99),
            Some(("ada".into(), 3))
        );
        assert_eq!(
            s.open::<(String, i32)>("signup", &sealed, 100),
            None,
            "expired"
        );
        assert_eq!(
            s.open::<(String, i32)>("other", &sealed, 99),
            None,
            "wrong purpose"
        );
        let mut bad = sealed.clone();
        bad.replace_range(0..1, if &sealed[0..1] == "e" { "f" } else { "e" });
        assert_eq!(s.open::<(String, i32)>("signup", &bad, 99), None, "altered");
        let other = Signer::new(&[8u8; 32]);
        assert_eq!(
            other.open::<(String, i32)>("signup", &sealed, 99),
            None,
            "other key"
        );
    }
}
