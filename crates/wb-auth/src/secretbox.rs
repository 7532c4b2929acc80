//! Authenticated encryption of small secrets at rest (such as TOTP seeds) with
//! XChaCha20-Poly1305.

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use chacha20poly1305::aead::{Aead, KeyInit, Payload};
use chacha20poly1305::{XChaCha20Poly1305, XNonce};
use hmac::{Hmac, Mac};
use rand::Rng;
use rand::rngs::OsRng;
use sha2::Sha256;

/// Prefix of the sealed format; it is also bound into the ciphertext as associated data.
const VERSION: &str = "v1";

/// Length of an XChaCha20 nonce in bytes; random nonces of this size never repeat in
/// practice.
const NONCE_LEN: usize = 24;

/// Length of the Poly1305 tag in bytes.
const TAG_LEN: usize = 16;

/// Encrypts and decrypts secrets under one 32-byte key with XChaCha20-Poly1305 and a
/// fresh random nonce per message. Sealed values read `v1.<base64url(nonce ‖ ciphertext)>`.
///
/// The format carries no key id: to rotate keys, [`open`](SecretBox::open) with the old
/// box and [`seal`](SecretBox::seal) with the new one. [`Debug`](std::fmt::Debug) output
/// never shows the key.
#[derive(Clone)]
pub struct SecretBox {
    cipher: XChaCha20Poly1305,
}

impl std::fmt::Debug for SecretBox {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("SecretBox(..)")
    }
}

impl SecretBox {
    /// A box using `key` directly.
    pub fn new(key: &[u8; 32]) -> Self {
        Self {
            cipher: XChaCha20Poly1305::new(key.into()),
        }
    }

    /// A box whose key is HMAC-SHA-256(`master`, `purpose`), so that one master secret
    /// yields independent keys for different uses (for example `"totp-seeds"`).
    ///
    /// # Panics
    ///
    /// If `master` is shorter than 256 bits, like [`crate::Signer::new`].
    pub fn derive(master: &[u8], purpose: &str) -> Self {
        assert!(
            master.len() >= 32,
            "the master key must have at least 256 bits"
        );
        let mut mac =
            <Hmac<Sha256> as Mac>::new_from_slice(master).expect("HMAC accepts keys of any length");
        mac.update(purpose.as_bytes());
        let key: [u8; 32] = mac.finalize().into_bytes().into();
        Self::new(&key)
    }

    /// Encrypts `plaintext` under a fresh random nonce: `v1.<base64url(nonce ‖ ciphertext)>`.
    pub fn seal(&self, plaintext: &[u8]) -> String {
        let mut nonce = [0u8; NONCE_LEN];
        OsRng.fill(&mut nonce);
        let ciphertext = self
            .cipher
            .encrypt(
                XNonce::from_slice(&nonce),
                Payload {
                    msg: plaintext,
                    aad: VERSION.as_bytes(),
                },
            )
            .expect("XChaCha20-Poly1305 encrypts messages of any practical length");
        let mut body = Vec::with_capacity(NONCE_LEN + ciphertext.len());
        body.extend_from_slice(&nonce);
        body.extend_from_slice(&ciphertext);
        format!("{VERSION}.{}", URL_SAFE_NO_PAD.encode(body))
    }

    /// Decrypts a value made by [`SecretBox::seal`] under the same key; `None` when it is
    /// malformed, was altered, or was sealed under another key.
    pub fn open(&self, sealed: &str) -> Option<Vec<u8>> {
        let encoded = sealed.trim().strip_prefix(VERSION)?.strip_prefix('.')?;
        let body = URL_SAFE_NO_PAD.decode(encoded).ok()?;
        if body.len() < NONCE_LEN + TAG_LEN {
            return None;
        }
        let (nonce, ciphertext) = body.split_at(NONCE_LEN);
        self.cipher
            .decrypt(
                XNonce::from_slice(nonce),
                Payload {
                    msg: ciphertext,
                    aad: VERSION.as_bytes(),
                },
            )
            .ok()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip() {
        let sb = SecretBox::new(&[7u8; 32]);
        let sealed = sb.seal(b"12345678901234567890");
        assert!(sealed.starts_with("v1."));
        assert_eq!(
            sb.open(&sealed).as_deref(),
            Some(&b"12345678901234567890"[..])
        );
        assert_eq!(sb.open(&sb.seal(b"")).as_deref(), Some(&b""[..]));
    }

    #[test]
    fn tampering_fails() {
        let sb = SecretBox::new(&[7u8; 32]);
        let sealed = sb.seal(b"seed");
        let prefix = "v1.".len();
        for i in prefix..sealed.len() {
            let mut bad = sealed.clone().into_bytes();
            bad[i] = if bad[i] == b'A' { b'B' } else { b'A' };
            let bad = String::from_utf8(bad).unwrap();
            assert_eq!(sb.open(&bad), None, "altered at {i}");
        }
        assert_eq!(sb.open(&sealed.replacen("v1.", "v2.", 1)), None);
        assert_eq!(sb.open(&sealed[..sealed.len() - 4]), None, "truncated");
        assert_eq!(sb.open("v1."), None);
        assert_eq!(sb.open("v1.!!!"), None);
        assert_eq!(sb.open(""), None);
    }

    #[test]
    fn nonce_differs_each_time() {
        let sb = SecretBox::new(&[7u8; 32]);
        let a = sb.seal(b"same");
        let b = sb.seal(b"same");
        assert_ne!(a, b);
        let nonce = |s: &str| URL_SAFE_NO_PAD.decode(&s[3..]).unwrap()[..NONCE_LEN].to_vec();
        assert_ne!(nonce(&a), nonce(&b));
    }

    #[test]
    fn wrong_key_fails() {
        let sealed = SecretBox::new(&[7u8; 32]).seal(b"seed");
        assert_eq!(SecretBox::new(&[8u8; 32]).open(&sealed), None);
    }

    #[test]
    fn derive_separates_purposes() {
        let master = [9u8; 32];
        let totp = SecretBox::derive(&master, "totp-seeds");
        let sealed = totp.seal(b"seed");
        assert_eq!(
            SecretBox::derive(&master, "totp-seeds")
                .open(&sealed)
                .as_deref(),
            Some(&b"seed"[..])
        );
        assert_eq!(SecretBox::derive(&master, "other").open(&sealed), None);
        assert_eq!(SecretBox::new(&master).open(&sealed), None);
    }

    #[test]
    fn debug_hides_the_key() {
        assert_eq!(format!("{:?}", SecretBox::new(&[7u8; 32])), "SecretBox(..)");
    }
}
