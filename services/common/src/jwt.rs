//! Access tokens: HS256 JWTs with pinned algorithm, required `iss`/`aud`/`exp`, and a previous
//! key accepted for verification so the signing secret can rotate without logging users out.

use std::time::Duration;

use jsonwebtoken::{Algorithm, DecodingKey, EncodingKey, Header, Validation, errors::ErrorKind};
use secrecy::ExposeSecret;
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use crate::{config::SharedConfig, identity::Role};

/// The claims of an access token.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Claims {
    /// The user id.
    pub sub: Uuid,
    /// The user's couple, or `null`.
    pub couple_id: Option<Uuid>,
    /// `user` or `admin`.
    #[serde(default)]
    pub role: Role,
    /// The user's token version when issued; bumping the version revokes the token.
    #[serde(default)]
    pub ver: i64,
    /// Issuer.
    pub iss: String,
    /// Audience.
    pub aud: String,
    /// Issued at, seconds since the epoch.
    pub iat: i64,
    /// Expiry, seconds since the epoch.
    pub exp: i64,
    /// Unique token id.
    pub jti: Uuid,
}

/// Who a new token is for.
#[derive(Debug, Clone, Copy)]
pub struct TokenSubject {
    /// The user id.
    pub user_id: Uuid,
    /// The user's current couple.
    pub couple_id: Option<Uuid>,
    /// The user's role.
    pub role: Role,
    /// The user's current token version.
    pub version: i64,
}

/// Why a token was refused. The variants stay internal detail: clients see one 401.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TokenError {
    /// Past `exp`.
    #[error("token expired")]
    Expired,
    /// Anything else: bad signature, algorithm, issuer, audience, shape.
    #[error("invalid token: {0}")]
    Invalid(String),
}

/// Signing and verification keys with the validation rules.
pub struct JwtKeys {
    encoding: EncodingKey,
    current: DecodingKey,
    previous: Option<DecodingKey>,
    validation: Validation,
    issuer: String,
    audience: String,
    ttl: Duration,
}

impl std::fmt::Debug for JwtKeys {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("JwtKeys").field("issuer", &self.issuer).field("audience", &self.audience).finish_non_exhaustive()
    }
}

impl JwtKeys {
    /// Keys from the shared configuration.
    pub fn from_config(config: &SharedConfig) -> Self {
        let secret = config.jwt_secret.expose_secret().as_bytes();
        let mut validation = Validation::new(Algorithm::HS256);
        validation.set_issuer(&[&config.jwt_issuer]);
        validation.set_audience(&[&config.jwt_audience]);
        validation.set_required_spec_claims(&["exp", "iss", "aud", "sub"]);
        validation.leeway = 5;
        Self {
            encoding: EncodingKey::from_secret(secret),
            current: DecodingKey::from_secret(secret),
            previous: config.jwt_previous_secret.as_ref().map(|s| DecodingKey::from_secret(s.expose_secret().as_bytes())),
            validation,
            issuer: config.jwt_issuer.clone(),
            audience: config.jwt_audience.clone(),
            ttl: config.access_token_ttl(),
        }
    }

    /// The access token lifetime.
    pub fn ttl(&self) -> Duration {
        self.ttl
    }

    /// Issues an access token for `subject`, valid for the configured lifetime.
    pub fn issue(&self, subject: TokenSubject) -> (String, Claims) {
        let now = chrono::Utc::now().timestamp();
        let claims = Claims {
            sub: subject.user_id,
            couple_id: subject.couple_id,
            role: subject.role,
            ver: subject.version,
            iss: self.issuer.clone(),
            aud: self.audience.clone(),
            iat: now,
            exp: now + self.ttl.as_secs() as i64,
            jti: Uuid::now_v7(),
        };
        let token = self.sign(&claims);
        (token, claims)
    }

    /// Signs arbitrary claims with the current key (tests use it to forge edge cases).
    pub fn sign(&self, claims: &Claims) -> String {
        // HS256 encoding of a serialisable struct cannot fail.
        jsonwebtoken::encode(&Header::new(Algorithm::HS256), claims, &self.encoding).expect("HS256 signing cannot fail")
    }

    /// Verifies a token: algorithm HS256, signature by the current or previous key, issuer,
    /// audience and expiry.
    pub fn verify(&self, token: &str) -> Result<Claims, TokenError> {
        match jsonwebtoken::decode::<Claims>(token, &self.current, &self.validation) {
            Ok(data) => Ok(data.claims),
            Err(err) if matches!(err.kind(), ErrorKind::InvalidSignature) => match &self.previous {
                Some(previous) => jsonwebtoken::decode::<Claims>(token, previous, &self.validation).map(|d| d.claims).map_err(classify),
                None => Err(classify(err)),
            },
            Err(err) => Err(classify(err)),
        }
    }
}

fn classify(err: jsonwebtoken::errors::Error) -> TokenError {
    match err.kind() {
        ErrorKind::ExpiredSignature => TokenError::Expired,
        _ => TokenError::Invalid(err.to_string()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const SECRET: &str = "0123456789abcdef0123456789abcdef";
    const OTHER: &str = "fedcba9876543210fedcba9876543210";

    fn keys(secret: &str) -> JwtKeys {
        JwtKeys::from_config(&SharedConfig::with_secret(secret))
    }

    fn subject() -> TokenSubject {
        TokenSubject { user_id: Uuid::now_v7(), couple_id: None, role: Role::User, version: 3 }
    }

    fn encode_segment(bytes: &[u8]) -> String {
        use base64::Engine;
        base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes)
    }

    #[test]
    fn issued_tokens_verify_and_round_trip_claims() {
        let keys = keys(SECRET);
        let (token, claims) = keys.issue(subject());
        assert_eq!(keys.verify(&token).unwrap(), claims);
        assert_eq!(claims.exp - claims.iat, 900);
    }

    #[test]
    fn a_token_signed_with_another_key_is_rejected() {
        let (token, _) = keys(OTHER).issue(subject());
        assert!(matches!(keys(SECRET).verify(&token), Err(TokenError::Invalid(_))));
    }

    #[test]
    fn the_previous_key_still_verifies_after_rotation() {
        let (old_token, _) = keys(OTHER).issue(subject());
        let mut config = SharedConfig::with_secret(SECRET);
        config.jwt_previous_secret = Some(OTHER.to_string().into());
        let rotated = JwtKeys::from_config(&config);
        assert!(rotated.verify(&old_token).is_ok());
        let (new_token, _) = rotated.issue(subject());
        assert!(keys(SECRET).verify(&new_token).is_ok(), "new tokens are signed with the current key");
    }

    #[test]
    fn expired_tokens_are_rejected() {
        let keys = keys(SECRET);
        let (_, mut claims) = keys.issue(subject());
        claims.exp = chrono::Utc::now().timestamp() - 60;
        assert_eq!(keys.verify(&keys.sign(&claims)), Err(TokenError::Expired));
    }

    #[test]
    fn wrong_issuer_or_audience_is_rejected() {
        let keys = keys(SECRET);
        let (_, claims) = keys.issue(subject());
        let wrong_iss = Claims { iss: "someone-else".into(), ..claims.clone() };
        let wrong_aud = Claims { aud: "other-api".into(), ..claims };
        assert!(keys.verify(&keys.sign(&wrong_iss)).is_err());
        assert!(keys.verify(&keys.sign(&wrong_aud)).is_err());
    }

    #[test]
    fn alg_none_and_other_algorithms_are_rejected() {
        let keys = keys(SECRET);
        let (_, claims) = keys.issue(subject());
        let payload = encode_segment(&serde_json::to_vec(&claims).unwrap());
        let none = format!("{}.{}.", encode_segment(br#"{"alg":"none","typ":"JWT"}"#), payload);
        assert!(keys.verify(&none).is_err());
        let hs512 = jsonwebtoken::encode(&Header::new(Algorithm::HS512), &claims, &EncodingKey::from_secret(SECRET.as_bytes())).unwrap();
        assert!(keys.verify(&hs512).is_err());
    }

    #[test]
    fn tokens_without_expiry_are_rejected() {
        let keys = keys(SECRET);
        let (_, claims) = keys.issue(subject());
        let mut value = serde_json::to_value(&claims).unwrap();
        value.as_object_mut().unwrap().remove("exp");
        let token = jsonwebtoken::encode(&Header::new(Algorithm::HS256), &value, &EncodingKey::from_secret(SECRET.as_bytes())).unwrap();
        assert!(keys.verify(&token).is_err());
    }
}
