//! Time-based one-time passwords (RFC 6238, HMAC-SHA-1, 6 digits, 30-second steps),
//! the `otpauth://` enrolment URL with its QR code, and single-use recovery codes.

use data_encoding::BASE32_NOPAD;
use hmac::{Hmac, Mac};
use qrcode::render::svg;
use qrcode::{EcLevel, QrCode};
use rand::Rng;
use rand::rngs::OsRng;
use sha1::Sha1;

/// Length of a TOTP secret in bytes: 160 bits, as RFC 4226 recommends.
const SECRET_LEN: usize = 20;

/// A 160-bit TOTP shared secret. Its [`Debug`](std::fmt::Debug) output never shows the
/// bytes; keep it encrypted at rest (see [`crate::secretbox::SecretBox`]).
#[derive(Clone)]
pub struct TotpSecret([u8; SECRET_LEN]);

impl std::fmt::Debug for TotpSecret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("TotpSecret(..)")
    }
}

impl TotpSecret {
    /// A fresh secret of 160 bits from the operating system's random number generator.
    pub fn generate() -> Self {
        let mut bytes = [0u8; SECRET_LEN];
        OsRng.fill(&mut bytes);
        Self(bytes)
    }

    /// Wraps exactly 20 bytes (for example a seed just decrypted from storage);
    /// `None` for any other length.
    pub fn from_bytes(bytes: &[u8]) -> Option<Self> {
        bytes.try_into().ok().map(Self)
    }

    /// The raw 20 bytes, for encryption at rest.
    pub fn as_bytes(&self) -> &[u8] {
        &self.0
    }

    /// RFC 4648 base32, upper case and without padding (32 characters): the form
    /// authenticator apps expect when the secret is typed in by hand.
    pub fn to_base32(&self) -> String {
        BASE32_NOPAD.encode(&self.0)
    }

    /// Parses the form made by [`TotpSecret::to_base32`], ignoring white space, case and
    /// trailing `=` padding; `None` unless it decodes to exactly 20 bytes.
    pub fn from_base32(s: &str) -> Option<Self> {
        let cleaned: String = s
            .chars()
            .filter(|c| !c.is_whitespace())
            .map(|c| c.to_ascii_uppercase())
            .collect();
        let bytes = BASE32_NOPAD
            .decode(cleaned.trim_end_matches('=').as_bytes())
            .ok()?;
        Self::from_bytes(&bytes)
    }
}

/// Length of one TOTP time step, in seconds.
pub const STEP_SECONDS: i64 = 30;

/// Number of decimal digits in a code.
pub const DIGITS: u32 = 6;

/// The time step (RFC 6238 `T`) containing the Unix time `unix`, rounding towards minus
/// infinity.
pub fn step_at(unix: i64) -> i64 {
    unix.div_euclid(STEP_SECONDS)
}

/// The code for time step `step` (RFC 4226 HOTP with the step as the counter).
fn code_for_step(secret: &TotpSecret, step: i64) -> String {
    let mut mac = Hmac::<Sha1>::new_from_slice(&secret.0).expect("HMAC accepts keys of any length");
    // RFC 6238 treats T as unsigned; steps before 1970 never occur in practice.
    mac.update(&(step as u64).to_be_bytes());
    let digest = mac.finalize().into_bytes();
    let offset = usize::from(digest[digest.len() - 1] & 0x0f);
    let binary = u32::from_be_bytes([
        digest[offset] & 0x7f,
        digest[offset + 1],
        digest[offset + 2],
        digest[offset + 3],
    ]);
    let code = binary % 10u32.pow(DIGITS);
    format!("{code:0width$}", width = DIGITS as usize)
}

/// The 6-digit code, zero-padded, for the Unix time `unix` (RFC 6238 with HMAC-SHA-1).
pub fn code_at(secret: &TotpSecret, unix: i64) -> String {
    code_for_step(secret, step_at(unix))
}

/// Why a submitted TOTP code was refused; the messages are written for the user.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum TotpError {
    /// Not six digits (after removing white space).
    #[error("Enter the 6-digit code from your authenticator app.")]
    Malformed,
    /// Six digits, but not the code for the current step or either neighbour.
    #[error("That code is not correct. Check the time on your phone and enter the current code.")]
    Invalid,
    /// The code is right but for a step that was already used.
    #[error("That code was already used. Wait for the next code and enter it.")]
    Replayed,
}

/// Compares two byte strings in time that depends only on their lengths.
fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    if a.len() != b.len() {
        return false;
    }
    let diff = a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y));
    std::hint::black_box(diff) == 0
}

/// Checks `code` (white space allowed) against the steps `t-1`, `t` and `t+1` around
/// `now`, tolerating one step of clock skew, with constant-time comparisons.
///
/// A matching step at or below `last_used_step` is refused as [`TotpError::Replayed`].
/// On success returns the accepted step, which the caller must store as the new
/// `last_used_step` atomically (compare-and-set) so that a code is used at most once.
pub fn verify(
    secret: &TotpSecret,
    code: &str,
    now: i64,
    last_used_step: Option<i64>,
) -> Result<i64, TotpError> {
    let code: String = code.chars().filter(|c| !c.is_whitespace()).collect();
    if code.len() != DIGITS as usize || !code.bytes().all(|b| b.is_ascii_digit()) {
        return Err(TotpError::Malformed);
    }
    let t = step_at(now);
    let mut accepted = None;
    let mut replayed = false;
    // All three candidates are always computed and compared, so the timing does not
    // reveal which step matched.
    for step in [t.saturating_sub(1), t, t.saturating_add(1)] {
        let matches = constant_time_eq(code_for_step(secret, step).as_bytes(), code.as_bytes());
        if !matches {
            continue;
        }
        if last_used_step.is_some_and(|last| step <= last) {
            replayed = true;
        } else if accepted.is_none() {
            accepted = Some(step);
        }
    }
    match accepted {
        Some(step) => Ok(step),
        None if replayed => Err(TotpError::Replayed),
        None => Err(TotpError::Invalid),
    }
}

/// Percent-encodes everything except the RFC 3986 unreserved characters.
fn percent_encode(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~') {
            out.push(char::from(b));
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

/// The enrolment URL in the Key URI format authenticator apps scan:
/// `otpauth://totp/Issuer:account?secret=...&issuer=...&algorithm=SHA1&digits=6&period=30`,
/// with the issuer and account percent-encoded (spaces as `%20`, `@` as `%40`).
pub fn otpauth_url(secret: &TotpSecret, account: &str, issuer: &str) -> String {
    let issuer = percent_encode(issuer);
    format!(
        "otpauth://totp/{issuer}:{account}?secret={secret}&issuer={issuer}\
         &algorithm=SHA1&digits={DIGITS}&period={STEP_SECONDS}",
        account = percent_encode(account),
        secret = secret.to_base32(),
    )
}

/// Renders `data` as a QR code (error correction level M): an inline `<svg>` element
/// without an XML declaration, with the standard quiet zone, at least 200 pixels square,
/// ready to be placed in an HTML page.
///
/// # Panics
///
/// If `data` is longer than a QR code can hold (2,331 bytes at level M); an
/// [`otpauth_url`] is far shorter.
pub fn qr_svg(data: &str) -> String {
    let code = QrCode::with_error_correction_level(data.as_bytes(), EcLevel::M)
        .expect("the data fits in a QR code");
    let image = code
        .render::<svg::Color>()
        .min_dimensions(200, 200)
        .quiet_zone(true)
        .build();
    let start = image
        .find("<svg")
        .expect("the renderer produces an <svg> element");
    image[start..].replacen(
        "<svg ",
        r#"<svg role="img" aria-label="QR code for your authenticator app" "#,
        1,
    )
}

/// `n` fresh recovery codes, each 80 random bits from the OS, written as
/// `xxxx-xxxx-xxxx-xxxx` in lower-case RFC 4648 base32 (letters `a`–`z` and digits
/// `2`–`7`, so no 0/O, 1/l or 8/B confusion). Store only [`hash_recovery_code`] of each.
pub fn recovery_codes(n: usize) -> Vec<String> {
    (0..n)
        .map(|_| {
            let mut bytes = [0u8; 10];
            OsRng.fill(&mut bytes);
            let plain = BASE32_NOPAD.encode(&bytes).to_ascii_lowercase();
            plain
                .as_bytes()
                .chunks(4)
                .map(|chunk| std::str::from_utf8(chunk).expect("base32 is ASCII"))
                .collect::<Vec<_>>()
                .join("-")
        })
        .collect()
}

/// Lower-case hex SHA-256 of a recovery code after normalisation (lower case, dashes and
/// white space removed), so that `ABCD-efgh …` and `abcdefgh…` hash alike. This is the
/// form kept in the database.
pub fn hash_recovery_code(code: &str) -> String {
    let normalised: String = code
        .chars()
        .filter(|c| *c != '-' && !c.is_whitespace())
        .map(|c| c.to_ascii_lowercase())
        .collect();
    crate::tokens::sha256_hex(&normalised)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rfc_secret() -> TotpSecret {
        TotpSecret::from_bytes(b"12345678901234567890").unwrap()
    }

    #[test]
    fn rfc6238_sha1_vectors() {
        let secret = rfc_secret();
        for (time, code) in [
            (59, "287082"),
            (1_111_111_109, "081804"),
            (1_111_111_111, "050471"),
            (1_234_567_890, "005924"),
            (2_000_000_000, "279037"),
            (20_000_000_000, "353130"),
        ] {
            assert_eq!(code_at(&secret, time), code, "time {time}");
        }
    }

    #[test]
    fn steps_round_down() {
        assert_eq!(step_at(0), 0);
        assert_eq!(step_at(29), 0);
        assert_eq!(step_at(30), 1);
        assert_eq!(step_at(59), 1);
        assert_eq!(step_at(-1), -1);
    }

    #[test]
    fn verify_allows_one_step_of_skew() {
        let secret = rfc_secret();
        let now = 1_234_567_890;
        let t = step_at(now);
        for delta in [-1, 0, 1] {
            let code = code_at(&secret, now + delta * STEP_SECONDS);
            assert_eq!(
                verify(&secret, &code, now, None),
                Ok(t + delta),
                "delta {delta}"
            );
        }
        for delta in [-2, 2] {
            let code = code_at(&secret, now + delta * STEP_SECONDS);
            assert_eq!(
                verify(&secret, &code, now, None),
                Err(TotpError::Invalid),
                "delta {delta}"
            );
        }
    }

    #[test]
    fn verify_accepts_spaces() {
        let secret = rfc_secret();
        assert_eq!(
            verify(&secret, " 005 924 ", 1_234_567_890, None),
            Ok(41_152_263)
        );
    }

    #[test]
    fn verify_refuses_replays() {
        let secret = rfc_secret();
        let now = 1_234_567_890;
        let code = code_at(&secret, now);
        let step = verify(&secret, &code, now, None).unwrap();
        assert_eq!(
            verify(&secret, &code, now, Some(step)),
            Err(TotpError::Replayed)
        );
        // After the next step's code was used, the older one is refused too.
        let newer = code_at(&secret, now + STEP_SECONDS);
        let newer_step = verify(&secret, &newer, now, Some(step)).unwrap();
        assert_eq!(newer_step, step + 1);
        assert_eq!(
            verify(&secret, &code, now + STEP_SECONDS, Some(newer_step)),
            Err(TotpError::Replayed)
        );
    }

    #[test]
    fn verify_rejects_malformed_codes() {
        let secret = rfc_secret();
        for code in ["12345", "abcdef", "1234567", "", "12345a", "１２３４５６"] {
            assert_eq!(
                verify(&secret, code, 59, None),
                Err(TotpError::Malformed),
                "{code:?}"
            );
        }
    }

    #[test]
    fn base32_round_trip_and_vector() {
        let secret = rfc_secret();
        assert_eq!(secret.to_base32(), "GEZDGNBVGY3TQOJQGEZDGNBVGY3TQOJQ");
        let parsed = TotpSecret::from_base32("gezd gnbv gy3t qojq GEZD GNBV GY3T QOJQ").unwrap();
        assert_eq!(parsed.as_bytes(), b"12345678901234567890");
        let fresh = TotpSecret::generate();
        let text = fresh.to_base32();
        assert_eq!(text.len(), 32);
        assert!(!text.contains('='));
        assert_eq!(
            TotpSecret::from_base32(&text).unwrap().as_bytes(),
            fresh.as_bytes()
        );
        assert_ne!(fresh.as_bytes(), TotpSecret::generate().as_bytes());
        assert!(TotpSecret::from_base32("GEZDGNBV").is_none(), "too short");
        assert!(TotpSecret::from_base32("not base32 at all!").is_none());
        assert!(TotpSecret::from_bytes(&[0u8; 19]).is_none());
    }

    #[test]
    fn debug_hides_the_secret() {
        let shown = format!("{:?}", rfc_secret());
        assert_eq!(shown, "TotpSecret(..)");
    }

    #[test]
    fn otpauth_url_escapes_labels() {
        let url = otpauth_url(&rfc_secret(), "ada@example.org", "Research Workbench");
        assert_eq!(
            url,
            "otpauth://totp/Research%20Workbench:ada%40example.org\
             ?secret=GEZDGNBVGY3TQOJQGEZDGNBVGY3TQOJQ&issuer=Research%20Workbench\
             &algorithm=SHA1&digits=6&period=30"
        );
        assert_eq!(percent_encode("a:b&c=d?"), "a%3Ab%26c%3Dd%3F");
        assert_eq!(percent_encode("é"), "%C3%A9");
    }

    #[test]
    fn qr_svg_is_inline_svg() {
        let svg = qr_svg(&otpauth_url(&rfc_secret(), "ada@example.org", "Workbench"));
        assert!(svg.starts_with("<svg"), "{}", &svg[..40]);
        assert!(svg.contains("</svg>"));
        assert!(!svg.contains("<?xml"));
        let width: u32 = svg
            .split("width=\"")
            .nth(1)
            .and_then(|rest| rest.split('"').next())
            .and_then(|w| w.parse().ok())
            .unwrap();
        assert!(width >= 200, "width {width}");
    }

    #[test]
    fn recovery_codes_are_distinct_and_well_formed() {
        let codes = recovery_codes(10);
        assert_eq!(codes.len(), 10);
        let unique: std::collections::HashSet<_> = codes.iter().collect();
        assert_eq!(unique.len(), 10);
        for code in &codes {
            // ^[a-z2-7]{4}(-[a-z2-7]{4}){3}$
            let groups: Vec<&str> = code.split('-').collect();
            assert_eq!(groups.len(), 4, "{code}");
            for group in groups {
                assert_eq!(group.len(), 4, "{code}");
                assert!(
                    group
                        .bytes()
                        .all(|b| b.is_ascii_lowercase() || (b'2'..=b'7').contains(&b)),
                    "{code}"
                );
            }
        }
    }

    #[test]
    fn recovery_code_hash_ignores_case_dashes_and_spaces() {
        let code = "abcd-efgh-ijkl-mnop";
        let hash = hash_recovery_code(code);
        assert_eq!(hash.len(), 64);
        assert_eq!(hash_recovery_code("ABCD-EFGH-IJKL-MNOP"), hash);
        assert_eq!(hash_recovery_code("abcdefghijklmnop"), hash);
        assert_eq!(hash_recovery_code(" abcd efgh ijkl mnop "), hash);
        assert_ne!(hash_recovery_code("abcd-efgh-ijkl-mnoq"), hash);
    }
}
