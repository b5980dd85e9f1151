//! The trait space: the 50 named scales `vec1`..`vec50` that user vectors (question-answer) and
//! place profiles (schedule-meeting) share, read from `data/traits.json`, which ships inside the
//! binaries so both services always agree on it.

use std::sync::LazyLock;

use serde::{Deserialize, Serialize};

/// How many traits there are: the length of every vector.
pub const TRAIT_COUNT: usize = 50;

/// One scale from -1 (`low`) to +1 (`high`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "camelCase")]
pub struct Trait {
    /// `vec1`..`vec50`.
    pub key: String,
    /// Stable English name, e.g. `indoor_outdoor`.
    pub name: String,
    /// What -1 means.
    pub low: String,
    /// What +1 means.
    pub high: String,
    /// What -1 means, in Korean.
    pub low_ko: String,
    /// What +1 means, in Korean.
    pub high_ko: String,
}

static TRAITS: LazyLock<Vec<Trait>> = LazyLock::new(|| {
    let traits: Vec<Trait> = serde_json::from_str(include_str!("../data/traits.json")).expect("data/traits.json is valid");
    assert_eq!(traits.len(), TRAIT_COUNT, "data/traits.json names {TRAIT_COUNT} traits");
    traits
});

/// Every trait, `vec1` first.
pub fn traits() -> &'static [Trait] {
    &TRAITS
}

/// The position of a key in a vector: `vec1` is 0, `vec50` is 49; anything else is `None`
/// (including `vec01` and `vec0`, so each position has exactly one key).
pub fn key_index(key: &str) -> Option<usize> {
    let digits = key.strip_prefix("vec")?;
    if digits.starts_with('0') || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let n: usize = digits.parse().ok()?;
    (1..=TRAIT_COUNT).contains(&n).then(|| n - 1)
}

/// The key of a position: 0 is `vec1`.
pub fn key_of(index: usize) -> String {
    format!("vec{}", index + 1)
}

#[cfg(test)]
mod tests {
    use std::collections::HashSet;

    use super::*;

    #[test]
    fn there_are_exactly_fifty_traits_keyed_in_order() {
        assert_eq!(traits().len(), TRAIT_COUNT);
        for (i, t) in traits().iter().enumerate() {
            assert_eq!(t.key, key_of(i));
            assert_eq!(key_index(&t.key), Some(i));
            for text in [&t.name, &t.low, &t.high, &t.low_ko, &t.high_ko] {
                assert!(!text.trim().is_empty(), "{} has an empty description", t.key);
            }
        }
    }

    #[test]
    fn trait_names_are_unique() {
        let names: HashSet<&str> = traits().iter().map(|t| t.name.as_str()).collect();
        assert_eq!(names.len(), TRAIT_COUNT);
    }

    #[test]
    fn only_vec1_to_vec50_are_keys() {
        assert_eq!((key_index("vec1"), key_index("vec7"), key_index("vec50")), (Some(0), Some(6), Some(49)));
        for bad in ["vec0", "vec51", "vec01", "vec", "vec-1", "vec+1", "Vec1", "vec1 ", "x1", ""] {
            assert_eq!(key_index(bad), None, "{bad:?}");
        }
    }
}
