//! Paging for list endpoints: `?limit=` (default 50, at most 200) and an opaque `?cursor=`
//! that the previous page returned as `page.nextCursor`.
//!
//! A cursor is the sort key of the last item served, as base64url JSON, so a service can page
//! by whatever its list is ordered by. A handler takes [`PageQuery`], asks the store for
//! `limit + 1` items after [`PageQuery::after`], and lets [`PageQuery::page`] cut the extra one
//! off and make the next cursor from the last item kept.

use axum::{
    extract::FromRequestParts,
    http::{StatusCode, request::Parts},
};
use base64::{Engine, engine::general_purpose::URL_SAFE_NO_PAD};
use serde::{Deserialize, Serialize, de::DeserializeOwned};

use crate::{
    Query,
    error::{ApiError, FieldErrors, codes},
};

/// Items per page when `?limit=` is absent.
pub const DEFAULT_LIMIT: usize = 50;
/// The largest `?limit=`.
pub const MAX_LIMIT: usize = 200;
/// The longest cursor accepted, so a decoded key stays small.
const MAX_CURSOR_LEN: usize = 512;

/// `?limit=` and `?cursor=`: a well-formed limit out of 1..=200 is 422, one that is not a number
/// is 400; the cursor is checked when it is read ([`PageQuery::after`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PageQuery {
    /// Items per page.
    pub limit: usize,
    /// The cursor as sent, if any.
    pub cursor: Option<String>,
}

#[derive(Deserialize)]
struct RawPage {
    limit: Option<i64>,
    cursor: Option<String>,
}

impl<S: Send + Sync> FromRequestParts<S> for PageQuery {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        let Query(raw) = Query::<RawPage>::from_request_parts(parts, state).await?;
        let limit = match raw.limit {
            None => DEFAULT_LIMIT,
            Some(n) if (1..=MAX_LIMIT as i64).contains(&n) => n as usize,
            Some(_) => {
                return Err(ApiError::validation(FieldErrors::from([("limit".into(), format!("must be between 1 and {MAX_LIMIT}"))])));
            }
        };
        Ok(Self { limit, cursor: raw.cursor.filter(|c| !c.is_empty()) })
    }
}

impl Default for PageQuery {
    fn default() -> Self {
        Self { limit: DEFAULT_LIMIT, cursor: None }
    }
}

impl PageQuery {
    /// The sort key the cursor carries (`None` on the first page); 400 when the cursor was not
    /// made by this list.
    pub fn after<K: DeserializeOwned>(&self) -> Result<Option<K>, ApiError> {
        self.cursor.as_deref().map(decode_cursor).transpose()
    }

    /// How many items to fetch: one more than a page, to know whether another page follows.
    pub fn fetch(&self) -> usize {
        self.limit + 1
    }

    /// Cuts `items` (fetched with [`PageQuery::fetch`]) to the page and returns the cursor of
    /// the next page, made from the last item's sort key, when there is one.
    pub fn page<T, K: Serialize>(&self, mut items: Vec<T>, key: impl Fn(&T) -> K) -> (Vec<T>, Option<String>) {
        if items.len() <= self.limit {
            return (items, None);
        }
        items.truncate(self.limit);
        let next = items.last().map(|last| encode_cursor(&key(last)));
        (items, next)
    }
}

/// Encodes a sort key as an opaque cursor.
pub fn encode_cursor<K: Serialize>(key: &K) -> String {
    // Serialising a plain key (ids, numbers, strings, tuples of them) cannot fail.
    URL_SAFE_NO_PAD.encode(serde_json::to_vec(key).unwrap_or_default())
}

/// Decodes a cursor made by [`encode_cursor`]; 400 `INVALID_QUERY` otherwise.
pub fn decode_cursor<K: DeserializeOwned>(cursor: &str) -> Result<K, ApiError> {
    let invalid = || ApiError::new(StatusCode::BAD_REQUEST, codes::INVALID_QUERY, "the cursor is not valid for this list");
    if cursor.len() > MAX_CURSOR_LEN {
        return Err(invalid());
    }
    let bytes = URL_SAFE_NO_PAD.decode(cursor).map_err(|_| invalid())?;
    serde_json::from_slice(&bytes).map_err(|_| invalid())
}

#[cfg(test)]
mod tests {
    use axum::http::Request;
    use uuid::Uuid;

    use super::*;

    async fn query(uri: &str) -> Result<PageQuery, ApiError> {
        let mut parts = Request::builder().uri(uri).body(()).unwrap().into_parts().0;
        PageQuery::from_request_parts(&mut parts, &()).await
    }

    #[tokio::test]
    async fn limits_default_to_50_and_out_of_range_is_422_but_garbage_is_400() {
        assert_eq!(query("/x").await.unwrap(), PageQuery { limit: 50, cursor: None });
        assert_eq!(query("/x?limit=200&cursor=abc").await.unwrap(), PageQuery { limit: 200, cursor: Some("abc".into()) });
        for bad in ["0", "201", "-1"] {
            let err = query(&format!("/x?limit={bad}")).await.unwrap_err();
            assert_eq!(err.status, StatusCode::UNPROCESSABLE_ENTITY, "{bad}");
            assert!(err.fields.unwrap().contains_key("limit"));
        }
        assert_eq!(query("/x?limit=ten").await.unwrap_err().status, StatusCode::BAD_REQUEST);
    }

    #[test]
    fn a_page_keeps_limit_items_and_points_after_the_last() {
        let q = PageQuery { limit: 2, cursor: None };
        let ids: Vec<Uuid> = (0..3).map(|_| Uuid::now_v7()).collect();
        let (page, next) = q.page(ids.clone(), |id| *id);
        assert_eq!(page, ids[..2]);
        let next = PageQuery { limit: 2, cursor: next };
        assert_eq!(next.after::<Uuid>().unwrap(), Some(ids[1]));
        let (page, none) = q.page(ids[..2].to_vec(), |id| *id);
        assert_eq!((page.len(), none), (2, None));
    }

    #[test]
    fn foreign_cursors_are_400s() {
        for bad in ["%%%", "bm90IGpzb24", &"A".repeat(600)] {
            let q = PageQuery { limit: 1, cursor: Some(bad.to_owned()) };
            assert_eq!(q.after::<Uuid>().unwrap_err().status, StatusCode::BAD_REQUEST, "{bad}");
        }
    }
}
