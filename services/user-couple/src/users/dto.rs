//! The bodies of `/api/users/*`, as the API documents them (camelCase on the wire), and what the
//! requests parse into.
//!
//! Request fields are optional at the serde level so that a missing field is reported together
//! with every other problem as one 422 with `fields`, instead of failing on the first one.

use chrono::{DateTime, NaiveDate, Utc};
use couple_common::{FieldErrors, validate::Fields};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use uuid::Uuid;

use crate::{
    domain::{self, Email, Gender, Name, Password},
    store::{ProfileUpdate, UserRecord},
};

/// `POST /api/users/signup`.
#[derive(Debug, Default, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct SignupRequest {
    /// Email address; unique, case-insensitive.
    #[schema(required = true, nullable = false, format = Email, max_length = 254, example = "mina@example.com")]
    pub email: Option<String>,
    /// 8 to 128 characters.
    #[schema(required = true, nullable = false, min_length = 8, max_length = 128, example = "correct horse battery")]
    pub password: Option<String>,
    /// 1 to 50 characters, not only spaces, no control characters.
    #[schema(required = true, nullable = false, min_length = 1, max_length = 50, pattern = r"\S", example = "Mina")]
    pub name: Option<String>,
    /// `M` or `F`.
    #[schema(required = true, nullable = false, pattern = "^[MF]$", example = "F")]
    pub gender: Option<String>,
    /// Birth date (YYYY-MM-DD), in the past.
    #[schema(required = true, nullable = false, format = Date, example = "1998-04-12")]
    pub birth: Option<String>,
    /// Push registration token.
    #[schema(max_length = 4096)]
    pub fcm_code: Option<String>,
    /// When the daily question is pushed (HH:MM).
    #[schema(pattern = r"^([01][0-9]|2[0-3]):[0-5][0-9]$", example = "21:00")]
    pub send_time: Option<String>,
}

/// `POST /api/users/login`.
#[derive(Debug, Default, Deserialize, ToSchema)]
pub struct LoginRequest {
    /// Email address.
    #[schema(required = true, nullable = false, max_length = 254)]
    pub email: Option<String>,
    /// Password.
    #[schema(required = true, nullable = false, max_length = 128)]
    pub password: Option<String>,
}

/// `POST /api/users/token/refresh`.
#[derive(Debug, Default, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct RefreshRequest {
    /// The refresh token from login or the last refresh.
    #[schema(required = true, nullable = false, max_length = 256)]
    pub refresh_token: Option<String>,
}

/// `POST /api/users/logout`.
#[derive(Debug, Default, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct LogoutRequest {
    /// The session's refresh token, revoked with its whole family.
    #[schema(max_length = 256)]
    pub refresh_token: Option<String>,
}

/// `PUT /api/users/me`.
#[derive(Debug, Default, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct UpdateUserRequest {
    /// New display name (1 to 50 characters).
    #[schema(min_length = 1, max_length = 50, pattern = r"\S")]
    pub name: Option<String>,
    /// New push registration token.
    #[schema(max_length = 4096)]
    pub fcm_code: Option<String>,
    /// New push time (HH:MM).
    #[schema(pattern = r"^([01][0-9]|2[0-3]):[0-5][0-9]$")]
    pub send_time: Option<String>,
}

/// `PUT /api/users/me/password`.
#[derive(Debug, Default, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct ChangePasswordRequest {
    /// The current password.
    #[schema(required = true, nullable = false, max_length = 128)]
    pub current_password: Option<String>,
    /// The new password (8 to 128 characters).
    #[schema(required = true, nullable = false, min_length = 8, max_length = 128)]
    pub new_password: Option<String>,
}

/// A user as the API shows it; never the password hash.
#[derive(Debug, Clone, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct User {
    /// User id.
    pub id: Uuid,
    /// Email as registered.
    pub email: String,
    /// Display name.
    pub name: String,
    /// `M` or `F`.
    pub gender: String,
    /// Birth date.
    pub birth: NaiveDate,
    /// Current couple, or null.
    pub couple_id: Option<Uuid>,
    /// Push time (HH:MM), or null.
    pub send_time: Option<String>,
    /// Push registration token, or null.
    pub fcm_code: Option<String>,
    /// Sign-up time.
    pub created_at: DateTime<Utc>,
}

impl From<UserRecord> for User {
    fn from(u: UserRecord) -> Self {
        Self {
            id: u.id,
            email: u.email,
            name: u.name,
            gender: u.gender,
            birth: u.birth,
            couple_id: u.couple_id,
            send_time: u.send_time,
            fcm_code: u.fcm_code,
            created_at: u.created_at,
        }
    }
}

/// A fresh access and refresh token.
#[derive(Debug, Clone, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct TokenPair {
    /// Bearer access token (JWT).
    pub access_token: String,
    /// Opaque refresh token; single use.
    pub refresh_token: String,
    /// Always `Bearer`.
    pub token_type: &'static str,
    /// Access token lifetime in seconds.
    pub expires_in: u64,
}

/// Login answer: the user and a token pair.
#[derive(Debug, Serialize, ToSchema)]
pub struct LoginResponse {
    /// The user.
    #[serde(flatten)]
    pub user: User,
    /// The tokens.
    #[serde(flatten)]
    pub tokens: TokenPair,
}

/// A valid sign-up.
#[derive(Debug)]
pub struct NewAccount {
    /// The email.
    pub email: Email,
    /// The password, not yet hashed.
    pub password: Password,
    /// The display name.
    pub name: Name,
    /// `M` or `F`.
    pub gender: Gender,
    /// A birth date in the past.
    pub birth: NaiveDate,
    /// The push registration token.
    pub fcm_code: Option<String>,
    /// The push time, `HH:MM`.
    pub send_time: Option<String>,
}

impl TryFrom<SignupRequest> for NewAccount {
    type Error = FieldErrors;

    fn try_from(req: SignupRequest) -> Result<Self, FieldErrors> {
        let today = domain::today();
        let mut f = Fields::default();
        let email = f.required("email", req.email, Email::parse);
        let password = f.required("password", req.password, Password::parse);
        let name = f.required("name", req.name, Name::parse);
        let gender = f.required("gender", req.gender, Gender::parse);
        let birth = f.required("birth", req.birth, |v| domain::parse_birth(v, today));
        let fcm_code = f.optional("fcmCode", req.fcm_code, domain::parse_fcm_code);
        let send_time = f.optional("sendTime", req.send_time, domain::parse_send_time);
        f.finish(|| Some(Self { email: email?, password: password?, name: name?, gender: gender?, birth: birth?, fcm_code, send_time }))
    }
}

/// Login credentials as given: only their presence is checked, so a wrong password and an
/// unknown email get the same answer.
#[derive(Debug)]
pub struct Credentials {
    /// The lower-cased, trimmed email.
    pub email_key: String,
    /// The password.
    pub password: String,
}

impl TryFrom<LoginRequest> for Credentials {
    type Error = FieldErrors;

    fn try_from(req: LoginRequest) -> Result<Self, FieldErrors> {
        let mut f = Fields::default();
        let email_key = f.present("email", req.email).map(|e| e.trim().to_lowercase());
        let password = f.present("password", req.password);
        f.finish(|| Some(Self { email_key: email_key?, password: password? }))
    }
}

impl RefreshRequest {
    /// The refresh token, which must be present.
    pub fn parse(self) -> Result<String, FieldErrors> {
        let mut f = Fields::default();
        let token = f.present("refreshToken", self.refresh_token);
        f.finish(|| token)
    }
}

impl TryFrom<UpdateUserRequest> for ProfileUpdate {
    type Error = FieldErrors;

    fn try_from(req: UpdateUserRequest) -> Result<Self, FieldErrors> {
        let mut f = Fields::default();
        let name = f.optional("name", req.name, Name::parse).map(Name::into_inner);
        let fcm_code = f.optional("fcmCode", req.fcm_code, domain::parse_fcm_code);
        let send_time = f.optional("sendTime", req.send_time, domain::parse_send_time);
        f.finish(|| Some(Self { name, fcm_code, send_time }))
    }
}

/// A valid password change.
#[derive(Debug)]
pub struct PasswordChange {
    /// The current password, to verify.
    pub current: String,
    /// The new password.
    pub new: Password,
}

impl TryFrom<ChangePasswordRequest> for PasswordChange {
    type Error = FieldErrors;

    fn try_from(req: ChangePasswordRequest) -> Result<Self, FieldErrors> {
        let mut f = Fields::default();
        let current = f.present("currentPassword", req.current_password);
        let new = f.required("newPassword", req.new_password, Password::parse);
        f.finish(|| Some(Self { current: current?, new: new? }))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_signup_names_every_missing_or_invalid_field_at_once() {
        let req =
            SignupRequest { email: Some("nope".into()), gender: Some("X".into()), fcm_code: Some("a\u{7}".into()), ..Default::default() };
        let fields = NewAccount::try_from(req).unwrap_err();
        let names: Vec<_> = fields.keys().map(String::as_str).collect();
        assert_eq!(names, ["birth", "email", "fcmCode", "gender", "name", "password"]);
        assert_eq!((fields["name"].as_str(), fields["gender"].as_str()), ("is required", "must be M or F"));
    }

    #[test]
    fn a_valid_signup_parses_into_a_new_account() {
        let req = SignupRequest {
            email: Some(" Mina@Example.com ".into()),
            password: Some("password-123".into()),
            name: Some("Mina".into()),
            gender: Some("F".into()),
            birth: Some("1998-04-12".into()),
            fcm_code: None,
            send_time: Some("9:05".into()),
        };
        let account = NewAccount::try_from(req).unwrap();
        assert_eq!(
            (account.email.key(), account.gender, account.send_time.as_deref()),
            ("mina@example.com".into(), Gender::F, Some("09:05"))
        );
    }

    #[test]
    fn login_only_requires_both_fields_and_normalises_the_email() {
        let fields = Credentials::try_from(LoginRequest::default()).unwrap_err();
        assert_eq!(fields.keys().collect::<Vec<_>>(), ["email", "password"]);
        let credentials = Credentials::try_from(LoginRequest { email: Some(" A@B.C ".into()), password: Some("x".into()) }).unwrap();
        assert_eq!((credentials.email_key.as_str(), credentials.password.as_str()), ("a@b.c", "x"));
    }
}
