//! RFC 6238 time-based one-time passwords (HMAC-SHA-1, 6 digits, 30-second steps) and the
//! `otpauth://` URI authenticator apps read.

use hmac::{Hmac, KeyInit, Mac};
use sha1::Sha1;

/// Seconds per time step.
pub const STEP_SECONDS: i64 = 30;
/// Digits per code.
pub const DIGITS: u32 = 6;
/// Bytes of a fresh secret (160 bits, as RFC 4226 recommends).
pub const SECRET_LEN: usize = 20;

/// The time step of `unix_seconds`.
pub fn step_of(unix_seconds: i64) -> i64 {
    unix_seconds.div_euclid(STEP_SECONDS)
}

/// The code for `secret` at time step `step` (RFC 4226 section 5.3 with T = step).
pub fn code_at(secret: &[u8], step: i64) -> u32 {
    let mut mac = <Hmac<Sha1> as KeyInit>::new_from_slice(secret).expect("HMAC takes any key length");
    mac.update(&step.to_be_bytes());
    let digest = mac.finalize().into_bytes();
    let offset = usize::from(digest[digest.len() - 1] & 0x0f);
    let binary =
        u32::from_be_bytes([digest[offset], digest[offset + 1], digest[offset + 2], digest[offset + 3]])
            & 0x7fff_ffff;
    binary % 10u32.pow(DIGITS)
}

/// The step within one step of `now_step` (a clock off by up to 30 s either way) whose code is
/// `code`, latest first; `None` when none matches. Compared in constant time per step.
pub fn matching_step(secret: &[u8], code: &str, now_step: i64) -> Option<i64> {
    let code = code.trim();
    if code.len() != DIGITS as usize || !code.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let wanted: u32 = code.parse().ok()?;
    let mut found = None;
    for step in [now_step + 1, now_step, now_step - 1] {
        let same = subtle::ConstantTimeEq::ct_eq(
            &code_at(secret, step).to_be_bytes()[..],
            &wanted.to_be_bytes()[..],
        );
        if bool::from(same) && found.is_none() {
            found = Some(step);
        }
    }
    found
}

/// RFC 4648 base32 without padding, as authenticator apps take secrets.
pub fn base32(bytes: &[u8]) -> String {
    const ALPHABET: &[u8; 32] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZ234567";
    let mut out = String::with_capacity(bytes.len().div_ceil(5) * 8);
    for chunk in bytes.chunks(5) {
        let mut block = [0u8; 5];
        block[..chunk.len()].copy_from_slice(chunk);
        let bits = u64::from_be_bytes([0, 0, 0, block[0], block[1], block[2], block[3], block[4]]);
        let chars = (chunk.len() * 8).div_ceil(5);
        for i in 0..chars {
            out.push(char::from(ALPHABET[((bits >> (35 - 5 * i)) & 31) as usize]));
        }
    }
    out
}

/// Decodes [`base32`]'s output (case and padding ignored); `None` on other characters.
pub fn base32_decode(text: &str) -> Option<Vec<u8>> {
    let mut out = Vec::with_capacity(text.len() * 5 / 8);
    let (mut bits, mut count) = (0u64, 0u32);
    for c in text.trim().trim_end_matches('=').bytes() {
        let value = match c.to_ascii_uppercase() {
            c @ b'A'..=b'Z' => c - b'A',
            c @ b'2'..=b'7' => c - b'2' + 26,
            _ => return None,
        };
        bits = (bits << 5) | u64::from(value);
        count += 5;
        if count >= 8 {
            count -= 8;
            out.push((bits >> count) as u8);
            bits &= (1 << count) - 1;
        }
    }
    Some(out)
}

/// The 6-digit code for a base32 `secret` (as enrolment shows it) at `unix_seconds`, as an
/// authenticator app would show it; `None` when the secret does not decode.
pub fn code_for(secret: &str, unix_seconds: i64) -> Option<String> {
    Some(format!("{:06}", code_at(&base32_decode(secret)?, step_of(unix_seconds))))
}

/// The `otpauth://totp/...` URI for `secret`, labelled `issuer:account`.
pub fn otpauth_uri(issuer: &str, account: &str, secret: &[u8]) -> String {
    let label = format!("{issuer}:{account}");
    let mut uri = url::Url::parse("otpauth://totp/").expect("static URI");
    uri.set_path(&label);
    uri.query_pairs_mut()
        .append_pair("secret", &base32(secret))
        .append_pair("issuer", issuer)
        .append_pair("algorithm", "SHA1")
        .append_pair("digits", &DIGITS.to_string())
        .append_pair("period", &STEP_SECONDS.to_string());
    uri.to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    /// RFC 6238 appendix B, SHA-1 rows (the reference secret is the ASCII "12345678901234567890";
    /// the RFC prints 8 digits, of which a 6-digit code is the last six).
    #[test]
    fn rfc_6238_vectors() {
        let secret = b"12345678901234567890";
        for (time, eight) in [
            (59, 94_287_082),
            (1_111_111_109, 7_081_804),
            (1_111_111_111, 14_050_471),
            (1_234_567_890, 89_005_924),
            (2_000_000_000, 69_279_037),
            (20_000_000_000, 65_353_130),
        ] {
            assert_eq!(code_at(secret, step_of(time)), eight % 1_000_000, "T = {time}");
        }
    }

    #[test]
    fn a_code_matches_within_one_step_either_way_only() {
        let secret = [7u8; SECRET_LEN];
        let now = step_of(1_700_000_000);
        let code = |step| format!("{:06}", code_at(&secret, step));
        assert_eq!(matching_step(&secret, &code(now), now), Some(now));
        assert_eq!(matching_step(&secret, &code(now - 1), now), Some(now - 1));
        assert_eq!(matching_step(&secret, &code(now + 1), now), Some(now + 1));
        assert_eq!(matching_step(&secret, &code(now - 2), now), None, "two steps old");
        assert_eq!(matching_step(&secret, &code(now + 2), now), None, "two steps ahead");
        for bad in ["", "12345", "1234567", "12a456", "-12345"] {
            assert_eq!(matching_step(&secret, bad, now), None, "{bad:?}");
        }
    }

    #[test]
    fn base32_matches_rfc_4648() {
        for (input, output) in [
            ("", ""),
            ("f", "MY"),
            ("fo", "MZXQ"),
            ("foo", "MZXW6"),
            ("foob", "MZXW6YQ"),
            ("fooba", "MZXW6YTB"),
            ("foobar", "MZXW6YTBOI"),
        ] {
            assert_eq!(base32(input.as_bytes()), output);
            assert_eq!(base32_decode(output).unwrap(), input.as_bytes());
        }
    }

    #[test]
    fn otpauth_uri_names_issuer_account_and_parameters() {
        let uri = otpauth_uri("blindvault", "alice", b"12345678901234567890");
        assert_eq!(
            uri,
            "otpauth://totp/blindvault:alice?secret=GEZDGNBVGY3TQOJQGEZDGNBVGY3TQOJQ&issuer=blindvault\
             &algorithm=SHA1&digits=6&period=30"
        );
    }
}
