//! The bodies of `/api/tags` and `/api/user-tag-profiles/*`.

use chrono::{DateTime, Utc};
use couple_common::{FieldErrors, validate::Fields};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use uuid::Uuid;

use crate::{
    domain,
    store::{TagRecord, TagScoreRecord},
};

/// Longest tag name, in characters.
pub const MAX_TAG_CHARS: usize = 50;

/// `POST /api/tags`.
#[derive(Debug, Default, Deserialize, ToSchema)]
pub struct CreateTagRequest {
    /// The name (1 to 50 characters), unique.
    #[schema(required = true, nullable = false, min_length = 1, max_length = 50, pattern = r"\S")]
    pub name: Option<String>,
}

/// A valid tag name.
#[derive(Debug, Clone)]
pub struct TagName(pub String);

impl TryFrom<CreateTagRequest> for TagName {
    type Error = FieldErrors;

    fn try_from(req: CreateTagRequest) -> Result<Self, FieldErrors> {
        let mut f = Fields::default();
        let name = f.required("name", req.name, |v| domain::parse_text(v, MAX_TAG_CHARS));
        f.finish(|| name.map(Self))
    }
}

/// A tag.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct Tag {
    /// Tag id.
    pub id: Uuid,
    /// Name.
    pub name: String,
}

impl From<TagRecord> for Tag {
    fn from(t: TagRecord) -> Self {
        Self { id: t.id, name: t.name }
    }
}

/// A user's score on a tag.
#[derive(Debug, Clone, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct TagScore {
    /// Tag id.
    pub tag_id: Uuid,
    /// Tag name.
    pub tag_name: String,
    /// In [-1, 1]: option 1 answers pull it up, option 2 answers down.
    pub score: f64,
    /// Last change.
    pub updated_at: DateTime<Utc>,
}

impl From<TagScoreRecord> for TagScore {
    fn from(s: TagScoreRecord) -> Self {
        Self { tag_id: s.tag_id, tag_name: s.tag_name, score: s.score, updated_at: s.updated_at }
    }
}
