//! Request and response bodies, as the API documents them (camelCase on the wire).
//!
//! Request fields are optional at the serde level so that a missing field is reported together
//! with every other problem as one 422 with `fields`, instead of failing on the first one.

use chrono::{DateTime, NaiveDate, Utc};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use uuid::Uuid;

use crate::store::{CoupleRecord, MemberRecord, UserRecord};

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

/// `POST /api/couples/match`.
#[derive(Debug, Default, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct MatchRequest {
    /// The couple's name (1 to 50 characters).
    #[schema(min_length = 1, max_length = 50, pattern = r"\S", example = "Mina & Joon")]
    pub name: Option<String>,
    /// The day they count from (YYYY-MM-DD); today when omitted.
    #[schema(format = Date)]
    pub start_date: Option<String>,
}

/// `POST /api/couples/match/accept`.
#[derive(Debug, Default, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct AcceptMatchRequest {
    /// The partner's 6-digit code.
    #[schema(required = true, nullable = false, pattern = "^[0-9]{6}$", example = "042917")]
    pub matching_code: Option<String>,
}

/// `PUT /api/couples/me`.
#[derive(Debug, Default, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct UpdateCoupleRequest {
    /// New couple name (1 to 50 characters).
    #[schema(min_length = 1, max_length = 50, pattern = r"\S")]
    pub name: Option<String>,
    /// New start date (YYYY-MM-DD).
    #[schema(format = Date)]
    pub start_date: Option<String>,
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

/// A new match code.
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct MatchCodeResponse {
    /// Six digits, single use.
    pub match_code: String,
    /// When it stops working.
    pub expires_at: DateTime<Utc>,
}

/// A couple member in the couple view.
#[derive(Debug, Clone, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct CoupleMember {
    /// User id.
    pub user_id: Uuid,
    /// Display name.
    pub name: String,
}

/// A couple.
#[derive(Debug, Clone, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct Couple {
    /// Couple id.
    pub id: Uuid,
    /// Couple name.
    pub name: String,
    /// The day they count from.
    pub start_date: NaiveDate,
    /// Days since the start, the start date being day 1.
    pub days_since_start: i64,
    /// Current members.
    pub members: Vec<CoupleMember>,
    /// Matching time.
    pub created_at: DateTime<Utc>,
}

impl Couple {
    /// The view of a couple with its members, as of `today`.
    pub fn new(couple: CoupleRecord, members: &[MemberRecord], today: NaiveDate) -> Self {
        Self {
            id: couple.id,
            name: couple.name,
            start_date: couple.start_date,
            days_since_start: crate::domain::days_since_start(couple.start_date, today),
            members: members.iter().map(|m| CoupleMember { user_id: m.id, name: m.name.clone() }).collect(),
            created_at: couple.created_at,
        }
    }
}

/// Accepting a code: the couple and tokens that carry it.
#[derive(Debug, Serialize, ToSchema)]
pub struct AcceptMatchResponse {
    /// The new couple.
    pub couple: Couple,
    /// Tokens carrying `coupleId`.
    #[serde(flatten)]
    pub tokens: TokenPair,
}

/// An entry of `GET /api/couples/members`.
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct Member {
    /// User id.
    pub user_id: Uuid,
    /// Display name.
    pub name: String,
    /// `M` or `F`.
    pub gender: String,
    /// Birth date.
    pub birth: NaiveDate,
}

impl From<MemberRecord> for Member {
    fn from(m: MemberRecord) -> Self {
        Self { user_id: m.id, name: m.name, gender: m.gender, birth: m.birth }
    }
}

/// The next day worth celebrating.
#[derive(Debug, Serialize, ToSchema)]
pub struct Anniversary {
    /// The date.
    pub date: NaiveDate,
    /// `100 days`, `1 year`, ...
    pub label: String,
}

/// `GET /api/couples/home`.
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct CoupleHome {
    /// Couple id.
    pub couple_id: Uuid,
    /// Couple name.
    pub couple_name: String,
    /// Days since the start (D+N).
    pub days_since_start: i64,
    /// The next 100-day or yearly anniversary.
    pub next_anniversary: Anniversary,
    /// The partner, or null while the partner's account is gone.
    pub partner: Option<User>,
}

/// `GET /internal/users/{id}/token-version`.
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct TokenVersion {
    /// User id.
    pub user_id: Uuid,
    /// Tokens carrying a lower `ver` are revoked.
    pub token_version: i64,
}
