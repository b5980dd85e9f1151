//! The bodies of `/api/couples/*`, as the API documents them (camelCase on the wire), and what
//! the requests parse into.

use chrono::{DateTime, NaiveDate, Utc};
use couple_common::{FieldErrors, validate::Fields};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use uuid::Uuid;

use crate::{
    domain::{self, MatchCode, Name},
    store::{CoupleRecord, MemberRecord},
    users::dto::{TokenPair, User},
};

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

/// `GET /internal/couples/{id}`: what another service needs of a couple (schedule-meeting's
/// calendar: the start date and both birthdays).
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct CoupleForService {
    /// Couple id.
    pub id: Uuid,
    /// Couple name.
    pub name: String,
    /// The day they count from.
    pub start_date: NaiveDate,
    /// Whether the couple still exists (false once they broke up).
    pub active: bool,
    /// The current members: both partners while active, none once ended.
    pub members: Vec<MemberForService>,
}

/// A member in [`CoupleForService`].
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct MemberForService {
    /// User id.
    pub user_id: Uuid,
    /// Display name.
    pub name: String,
    /// Birth date.
    pub birth: NaiveDate,
}

impl CoupleForService {
    /// The view of `couple` with its current `members`.
    pub fn new(couple: CoupleRecord, members: Vec<MemberRecord>) -> Self {
        Self {
            id: couple.id,
            name: couple.name,
            start_date: couple.start_date,
            active: couple.ended_at.is_none(),
            members: members.into_iter().map(|m| MemberForService { user_id: m.id, name: m.name, birth: m.birth }).collect(),
        }
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

/// A valid match-code request.
#[derive(Debug)]
pub struct NewMatch {
    /// The couple's name.
    pub name: Name,
    /// The day they count from; today when not given.
    pub start_date: Option<NaiveDate>,
}

impl TryFrom<MatchRequest> for NewMatch {
    type Error = FieldErrors;

    fn try_from(req: MatchRequest) -> Result<Self, FieldErrors> {
        let today = domain::today();
        let mut f = Fields::default();
        let name = f.required("name", req.name, Name::parse);
        let start_date = f.optional("startDate", req.start_date, |v| domain::parse_start_date(v, today));
        f.finish(|| Some(Self { name: name?, start_date }))
    }
}

impl TryFrom<AcceptMatchRequest> for MatchCode {
    type Error = FieldErrors;

    fn try_from(req: AcceptMatchRequest) -> Result<Self, FieldErrors> {
        let mut f = Fields::default();
        let code = f.required("matchingCode", req.matching_code, MatchCode::parse);
        f.finish(|| code)
    }
}

/// A valid couple update; `None` leaves a field as it is.
#[derive(Debug)]
pub struct CoupleUpdate {
    /// The new name.
    pub name: Option<String>,
    /// The new start date.
    pub start_date: Option<NaiveDate>,
}

impl TryFrom<UpdateCoupleRequest> for CoupleUpdate {
    type Error = FieldErrors;

    fn try_from(req: UpdateCoupleRequest) -> Result<Self, FieldErrors> {
        let today = domain::today();
        let mut f = Fields::default();
        let name = f.optional("name", req.name, Name::parse).map(Name::into_inner);
        let start_date = f.optional("startDate", req.start_date, |v| domain::parse_start_date(v, today));
        f.finish(|| Some(Self { name, start_date }))
    }
}
