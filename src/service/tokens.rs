//! Access tokens (HS256 JWTs) and refresh tokens (256-bit random, stored only as SHA-256).

use std::time::Duration;

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use jsonwebtoken::{Algorithm, DecodingKey, EncodingKey, Header, Validation};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use uuid::Uuid;

use super::ServiceError;
use crate::domain::Timestamp;

/// The `iss` and `aud` of every token this server issues.
const ISSUER: &str = "blindvault";
const AUDIENCE: &str = "blindvault-api";

/// The claims of an access token.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Claims {
    /// User id.
    pub sub: Uuid,
    /// Session id.
    pub sid: Uuid,
    /// Space-separated scopes.
    pub scope: String,
    /// Issued at (Unix seconds).
    pub iat: i64,
    /// Expires at (Unix seconds).
    pub exp: i64,
    /// Issuer.
    pub iss: String,
    /// Audience.
    pub aud: String,
}

/// A freshly issued access token.
#[derive(Debug, Clone)]
pub struct AccessToken {
    /// The JWT.
    pub token: String,
    /// Seconds until it expires.
    pub expires_in: u64,
}

/// Signs and verifies access tokens with one HMAC key. The algorithm is pinned: a token
/// that names any other (`none`, RS256, ...) is refused.
pub struct TokenIssuer {
    encoding: EncodingKey,
    decoding: DecodingKey,
    validation: Validation,
    kid: String,
    previous: Option<(String, DecodingKey)>,
    access_ttl: Duration,
}

impl TokenIssuer {
    /// An issuer signing with `secret`, issuing tokens valid for `access_ttl`.
    pub fn new(secret: &[u8], access_ttl: Duration) -> Self {
        let mut validation = Validation::new(Algorithm::HS256);
        validation.set_issuer(&[ISSUER]);
        validation.set_audience(&[AUDIENCE]);
        validation.set_required_spec_claims(&["exp", "iss", "aud", "sub"]);
        // Expiry is checked in `verify` against its `now`, not against the library's clock.
        validation.validate_exp = false;
        Self {
            encoding: EncodingKey::from_secret(secret),
            decoding: DecodingKey::from_secret(secret),
            validation,
            kid: key_id(secret),
            previous: None,
            access_ttl,
        }
    }

    /// Also accepts tokens signed with `secret` (the key before a rotation, named by its `kid`),
    /// so that a rotation does not log anyone out: keep it for one access-token lifetime.
    pub fn accepting_previous(mut self, secret: &[u8]) -> Self {
        self.previous = Some((key_id(secret), DecodingKey::from_secret(secret)));
        self
    }

    /// Issues an access token for `user` in `session` with `scope`.
    pub fn issue(
        &self,
        user: Uuid,
        session: Uuid,
        scope: &str,
        now: Timestamp,
    ) -> Result<AccessToken, ServiceError> {
        let iat = now.unix_seconds();
        let claims = Claims {
            sub: user,
            sid: session,
            scope: scope.to_owned(),
            iat,
            exp: iat + self.access_ttl.as_secs() as i64,
            iss: ISSUER.into(),
            aud: AUDIENCE.into(),
        };
        let mut header = Header::new(Algorithm::HS256);
        header.kid = Some(self.kid.clone());
        let token = jsonwebtoken::encode(&header, &claims, &self.encoding)
            .map_err(|e| ServiceError::internal(format!("signing a token: {e}")))?;
        Ok(AccessToken { token, expires_in: self.access_ttl.as_secs() })
    }

    /// Verifies signature, algorithm, issuer, audience and expiry, and that the token lives
    /// no longer than this issuer gives one (from an `iat` that is not in the future): even a
    /// token signed with the key cannot outlive the configured lifetime.
    pub fn verify(&self, token: &str, now: Timestamp) -> Result<Claims, ServiceError> {
        let kid = jsonwebtoken::decode_header(token).ok().and_then(|h| h.kid);
        let key = match (&self.previous, kid) {
            (Some((previous, key)), Some(kid)) if *previous == kid && kid != self.kid => key,
            _ => &self.decoding,
        };
        let claims = jsonwebtoken::decode::<Claims>(token, key, &self.validation)
            .map(|data| data.claims)
            .map_err(|_| ServiceError::Unauthenticated)?;
        // `exp` is the first second at which the token is no longer accepted (RFC 7519 4.1.4).
        if claims.exp <= now.unix_seconds() {
            return Err(ServiceError::TokenExpired);
        }
        let ttl = self.access_ttl.as_secs() as i64;
        // A second of slack for clocks between replicas.
        if claims.iat > now.unix_seconds() + 1 || claims.exp - claims.iat > ttl {
            return Err(ServiceError::Unauthenticated);
        }
        Ok(claims)
    }
}

/// A new refresh token and the hash under which it is stored.
pub fn new_refresh_token() -> (String, Vec<u8>) {
    let token = URL_SAFE_NO_PAD.encode(rand::random::<[u8; 32]>());
    let hash = refresh_token_hash(&token);
    (token, hash)
}

/// The stored form of a refresh token. The token has 256 bits of entropy, so a plain SHA-256
/// is enough: the database never holds anything that can be presented.
pub fn refresh_token_hash(token: &str) -> Vec<u8> {
    Sha256::digest(token.as_bytes()).to_vec()
}

/// A short public name of a signing key: the first 4 bytes of its SHA-256, hex.
fn key_id(secret: &[u8]) -> String {
    hex(&Sha256::digest(secret)[..4])
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn issue_verify_and_refuse_tampering() {
        let issuer = TokenIssuer::new(&[9u8; 32], Duration::from_secs(60));
        let (user, session) = (Uuid::new_v4(), Uuid::new_v4());
        let t = issuer.issue(user, session, "vault:read", Timestamp::now()).unwrap();
        let now = Timestamp::now();
        let claims = issuer.verify(&t.token, now).unwrap();
        assert_eq!((claims.sub, claims.sid, claims.scope.as_str()), (user, session, "vault:read"));

        let other = TokenIssuer::new(&[8u8; 32], Duration::from_secs(60));
        assert!(matches!(other.verify(&t.token, now), Err(ServiceError::Unauthenticated)));

        let expired =
            issuer.issue(user, session, "account", Timestamp::now().minus(Duration::from_secs(120))).unwrap();
        assert!(matches!(issuer.verify(&expired.token, now), Err(ServiceError::TokenExpired)));
    }

    #[test]
    fn no_token_outlives_the_configured_lifetime() {
        let (user, session, now) = (Uuid::new_v4(), Uuid::new_v4(), Timestamp::now());
        let long = TokenIssuer::new(&[9u8; 32], Duration::from_secs(3600))
            .issue(user, session, "account", now)
            .unwrap();
        let issuer = TokenIssuer::new(&[9u8; 32], Duration::from_secs(60));
        assert!(
            matches!(issuer.verify(&long.token, now), Err(ServiceError::Unauthenticated)),
            "an hour > 60 s"
        );
        let ahead = issuer.issue(user, session, "account", now.plus(Duration::from_secs(30))).unwrap();
        assert!(
            matches!(issuer.verify(&ahead.token, now), Err(ServiceError::Unauthenticated)),
            "iat in the future"
        );
        assert!(issuer.verify(&ahead.token, now.plus(Duration::from_secs(30))).is_ok());
    }

    /// A fixed instant, and `secs` after it.
    fn t(secs: u64) -> Timestamp {
        Timestamp::from_unix_millis(1_700_000_000_000).plus(Duration::from_secs(secs))
    }

    fn refused(result: Result<Claims, ServiceError>) -> ServiceError {
        result.expect_err("the token should be refused")
    }

    #[test]
    fn expiry_is_judged_at_the_given_now_and_ends_at_exp() {
        let issuer = TokenIssuer::new(&[9u8; 32], Duration::from_secs(300));
        let token = issuer.issue(Uuid::new_v4(), Uuid::new_v4(), "account", t(0)).unwrap().token;
        assert!(issuer.verify(&token, t(0)).is_ok());
        assert!(issuer.verify(&token, t(299)).is_ok(), "alive until its last second");
        assert!(matches!(refused(issuer.verify(&token, t(300))), ServiceError::TokenExpired), "at exp");
        assert!(matches!(refused(issuer.verify(&token, t(301))), ServiceError::TokenExpired));
    }

    #[test]
    fn iat_may_lead_by_one_second_and_the_lifetime_is_exact() {
        let (user, session) = (Uuid::new_v4(), Uuid::new_v4());
        let issuer = TokenIssuer::new(&[9u8; 32], Duration::from_secs(60));
        let ahead = |secs| issuer.issue(user, session, "account", t(secs)).unwrap().token;
        assert!(issuer.verify(&ahead(1), t(0)).is_ok(), "a second of clock slack");
        assert!(matches!(refused(issuer.verify(&ahead(2), t(0))), ServiceError::Unauthenticated));
        let longer = TokenIssuer::new(&[9u8; 32], Duration::from_secs(61));
        let token = longer.issue(user, session, "account", t(0)).unwrap().token;
        assert!(matches!(refused(issuer.verify(&token, t(1))), ServiceError::Unauthenticated), "61 s > 60 s");
        assert!(longer.verify(&token, t(1)).is_ok());
    }

    #[test]
    fn only_hs256_with_our_key_issuer_and_audience_is_accepted() {
        let issuer = TokenIssuer::new(&[9u8; 32], Duration::from_secs(60));
        let claims = Claims {
            sub: Uuid::new_v4(),
            sid: Uuid::new_v4(),
            scope: "account".into(),
            iat: t(0).unix_seconds(),
            exp: t(60).unix_seconds(),
            iss: ISSUER.into(),
            aud: AUDIENCE.into(),
        };
        let sign = |alg, claims: &Claims| {
            jsonwebtoken::encode(&Header::new(alg), claims, &EncodingKey::from_secret(&[9u8; 32])).unwrap()
        };
        assert!(issuer.verify(&sign(Algorithm::HS256, &claims), t(1)).is_ok(), "the control");
        assert!(matches!(
            refused(issuer.verify(&sign(Algorithm::HS384, &claims), t(1))),
            ServiceError::Unauthenticated
        ));
        let other_iss = Claims { iss: "elsewhere".into(), ..claims.clone() };
        assert!(matches!(
            refused(issuer.verify(&sign(Algorithm::HS256, &other_iss), t(1))),
            ServiceError::Unauthenticated
        ));
        let other_aud = Claims { aud: "another-api".into(), ..claims.clone() };
        assert!(matches!(
            refused(issuer.verify(&sign(Algorithm::HS256, &other_aud), t(1))),
            ServiceError::Unauthenticated
        ));
        // `alg: none` with the signature stripped.
        let signed = sign(Algorithm::HS256, &claims);
        let payload = signed.split('.').nth(1).unwrap();
        let unsigned = format!("{}.{payload}.", URL_SAFE_NO_PAD.encode(r#"{"alg":"none","typ":"JWT"}"#));
        assert!(matches!(refused(issuer.verify(&unsigned, t(1))), ServiceError::Unauthenticated));
        // A tampered payload breaks the signature.
        let forged = Claims { scope: "vault:read vault:write account".into(), ..claims };
        let forged_payload = sign(Algorithm::HS256, &forged).split('.').nth(1).unwrap().to_owned();
        let spliced = signed.replacen(payload, &forged_payload, 1);
        assert!(matches!(refused(issuer.verify(&spliced, t(1))), ServiceError::Unauthenticated));
    }

    #[test]
    fn a_rotated_key_is_accepted_only_as_the_named_previous_one() {
        let (user, session) = (Uuid::new_v4(), Uuid::new_v4());
        let ttl = Duration::from_secs(60);
        let old = TokenIssuer::new(&[1u8; 32], ttl).issue(user, session, "account", t(0)).unwrap().token;
        let stranger = TokenIssuer::new(&[2u8; 32], ttl).issue(user, session, "account", t(0)).unwrap().token;
        let rotated = TokenIssuer::new(&[3u8; 32], ttl).accepting_previous(&[1u8; 32]);
        assert_eq!(rotated.verify(&old, t(1)).unwrap().sub, user);
        assert!(matches!(refused(rotated.verify(&stranger, t(1))), ServiceError::Unauthenticated));
        let not_rotated = TokenIssuer::new(&[3u8; 32], ttl);
        assert!(matches!(refused(not_rotated.verify(&old, t(1))), ServiceError::Unauthenticated));
    }

    #[test]
    fn refresh_tokens_are_random_and_hashed() {
        let (a, ha) = new_refresh_token();
        let (b, _) = new_refresh_token();
        assert_ne!(a, b);
        assert_eq!(a.len(), 43);
        assert_eq!(refresh_token_hash(&a), ha);
    }
}
