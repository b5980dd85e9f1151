//! `/api/places*`.

use std::sync::Arc;

use axum::{
    Router,
    extract::{Path, State},
    routing::get,
};
use couple_common::{ApiResponse, PageQuery, Query};

use super::{Places, dto::*};
use crate::{AppState, error::Result, member::CoupleMember, path_id};

pub fn router() -> Router<AppState> {
    Router::new().route("/api/places", get(search)).route("/api/places/{id}", get(place))
}

/// Search the places catalogue: by name (Korean or Latin, any case), category and distance.
/// Without `near`, best rated first; with it, nearest first within `radiusKm`, each with its
/// `distanceKm`.
#[utoipa::path(get, path = "/api/places", tag = "places", security(("bearer" = [])),
    params(("q" = Option<String>, Query, max_length = 100, description = "part of the Korean or Latin name, any case"),
        ("category" = Option<super::Category>, Query, description = "one category"),
        ("near" = Option<String>, Query, example = "37.5512,126.9882", description = "`lat,lon`: only places within `radiusKm`, nearest first"),
        ("radiusKm" = Option<f64>, Query, exclusive_minimum = 0, maximum = 50, description = "km around `near` (only with it), 5 by default"),
        ("limit" = Option<u32>, Query, minimum = 1, maximum = 200, description = "page size, 50 by default"),
        ("cursor" = Option<String>, Query, description = "`page.nextCursor` of the previous page")),
    responses((status = 200, body = ApiResponse<Vec<Place>>), (status = 400, description = "`near`, `radiusKm`, the limit or the cursor does not parse"),
        (status = 403, description = "the caller has no couple (`NO_COUPLE`)"),
        (status = 422, description = "an unknown category, `near` or `radiusKm` out of range, `radiusKm` without `near`, or the limit out of range")))]
pub async fn search(
    State(places): State<Arc<Places>>,
    _member: CoupleMember,
    Query(query): Query<PlacesQuery>,
    page: PageQuery,
) -> Result<ApiResponse<Vec<Place>>> {
    let (items, next) = places.search(&query.parse()?, &page).await?;
    Ok(ApiResponse::ok(items).next_cursor(next))
}

/// One place.
#[utoipa::path(get, path = "/api/places/{id}", tag = "places", security(("bearer" = [])),
    params(("id" = String, Path, description = "place id")),
    responses((status = 200, body = ApiResponse<Place>), (status = 403, description = "the caller has no couple (`NO_COUPLE`)"),
        (status = 404, description = "no such place")))]
pub async fn place(State(places): State<Arc<Places>>, _member: CoupleMember, Path(id): Path<String>) -> Result<ApiResponse<Place>> {
    Ok(ApiResponse::ok(places.get(path_id(&id, "place")?).await?))
}
