//! The bodies of `/api/user-vectors*`.

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use couple_common::{FieldErrors, validate::Fields};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use uuid::Uuid;

use crate::{
    domain::{TraitVector, VectorDeltas},
    store::VectorRecord,
};

/// A user's vector.
#[derive(Debug, Clone, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct UserVector {
    /// Owner.
    pub user_id: Uuid,
    /// `vec1`..`vec50`, each in [-1, 1].
    #[schema(value_type = BTreeMap<String, f64>)]
    pub vectors: TraitVector,
    /// Last change.
    pub updated_at: DateTime<Utc>,
}

impl From<VectorRecord> for UserVector {
    fn from(v: VectorRecord) -> Self {
        Self { user_id: v.user_id, vectors: v.vector, updated_at: v.updated_at }
    }
}

/// `PUT /api/user-vectors/my-vector`: the traits to set; the others keep their values.
#[derive(Debug, Default, Deserialize, ToSchema)]
pub struct PutVectorRequest {
    /// `{"vecN": value}` with values in [-1, 1].
    #[schema(required = true, nullable = false, value_type = BTreeMap<String, f64>)]
    pub vectors: Option<BTreeMap<String, f64>>,
}

impl TryFrom<PutVectorRequest> for VectorDeltas {
    type Error = FieldErrors;

    fn try_from(req: PutVectorRequest) -> Result<Self, FieldErrors> {
        let mut f = Fields::default();
        let values =
            f.present("vectors", req.vectors).and_then(|values| match VectorDeltas::parse(values.iter().map(|(k, v)| (k.as_str(), *v))) {
                Ok(values) => Some(values),
                Err(problems) => {
                    for (key, problem) in problems {
                        f.record(&format!("vectors.{key}"), problem);
                    }
                    None
                }
            });
        f.finish(|| values)
    }
}

/// `PUT /api/user-vectors/my-vector/{vecN}?value=`.
#[derive(Debug, Deserialize)]
pub struct ValueQuery {
    /// The new value.
    pub value: f64,
}
