//! Values that parse: the chosen option, trait vectors and their deltas, bounded texts.

use couple_common::traits::{TRAIT_COUNT, key_index, key_of};
use serde::{Deserialize, Deserializer, Serialize, Serializer, de::Error as _, ser::SerializeMap};

/// Which of a question's two options an answer chose.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Choice {
    /// `"1"`.
    One,
    /// `"2"`.
    Two,
}

impl Choice {
    /// Parses `"1"` or `"2"`.
    pub fn parse(raw: &str) -> Result<Self, &'static str> {
        match raw {
            "1" => Ok(Self::One),
            "2" => Ok(Self::Two),
            _ => Err("must be \"1\" or \"2\""),
        }
    }

    /// The stored number.
    pub fn number(self) -> i32 {
        match self {
            Self::One => 1,
            Self::Two => 2,
        }
    }

    /// From the stored number (anything but 2 is option 1).
    pub fn from_number(n: i32) -> Self {
        if n == 2 { Self::Two } else { Self::One }
    }

    /// The wire form, `"1"` or `"2"`.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::One => "1",
            Self::Two => "2",
        }
    }

    /// The sign a tag weight takes for this choice: option 1 pulls towards +1, option 2 towards -1.
    pub fn sign(self) -> f64 {
        match self {
            Self::One => 1.0,
            Self::Two => -1.0,
        }
    }
}

/// Why a trait value is refused.
pub const VALUE_RANGE: &str = "must be a number between -1 and 1";
/// Why a trait key is refused.
pub const KEY_RANGE: &str = "is not a trait key (vec1 to vec50)";

/// A trait value: finite, in [-1, 1].
pub fn parse_value(value: f64) -> Result<f64, &'static str> {
    if value.is_finite() && (-1.0..=1.0).contains(&value) { Ok(value) } else { Err(VALUE_RANGE) }
}

/// A trait key's position (`vec1` is 0).
pub fn parse_key(key: &str) -> Result<usize, &'static str> {
    key_index(key).ok_or(KEY_RANGE)
}

/// Clamps to [-1, 1].
pub fn clamp(value: f64) -> f64 {
    value.clamp(-1.0, 1.0)
}

/// A sparse change to some traits: `{"vec3": 0.2}` on the wire, sorted by trait.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct VectorDeltas(Vec<(usize, f64)>);

impl VectorDeltas {
    /// Parses a `{key: value}` map, collecting each bad entry as `(key, problem)`.
    pub fn parse<'a>(entries: impl IntoIterator<Item = (&'a str, f64)>) -> Result<Self, Vec<(String, &'static str)>> {
        let mut values = Vec::new();
        let mut problems = Vec::new();
        for (key, value) in entries {
            match (parse_key(key), parse_value(value)) {
                (Ok(index), Ok(value)) => values.push((index, value)),
                (Err(problem), _) | (_, Err(problem)) => problems.push((key.to_owned(), problem)),
            }
        }
        if !problems.is_empty() {
            return Err(problems);
        }
        values.sort_by_key(|(index, _)| *index);
        Ok(Self(values))
    }

    /// The changes, by trait position.
    pub fn entries(&self) -> &[(usize, f64)] {
        &self.0
    }

    /// Whether nothing changes.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

fn serialize_entries<S: Serializer>(entries: impl ExactSizeIterator<Item = (usize, f64)>, serializer: S) -> Result<S::Ok, S::Error> {
    let mut map = serializer.serialize_map(Some(entries.len()))?;
    for (index, value) in entries {
        map.serialize_entry(&key_of(index), &value)?;
    }
    map.end()
}

impl Serialize for VectorDeltas {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serialize_entries(self.0.iter().copied(), serializer)
    }
}

impl<'de> Deserialize<'de> for VectorDeltas {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let raw = std::collections::BTreeMap::<String, f64>::deserialize(deserializer)?;
        Self::parse(raw.iter().map(|(k, v)| (k.as_str(), *v)))
            .map_err(|problems| D::Error::custom(format!("{} {}", problems[0].0, problems[0].1)))
    }
}

/// The deltas of each option of a question: `{"1": {...}, "2": {...}}`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct OptionDeltas {
    /// Applied when option 1 is chosen.
    #[serde(rename = "1", default)]
    pub one: VectorDeltas,
    /// Applied when option 2 is chosen.
    #[serde(rename = "2", default)]
    pub two: VectorDeltas,
}

impl OptionDeltas {
    /// The deltas of `choice`.
    pub fn of(&self, choice: Choice) -> &VectorDeltas {
        match choice {
            Choice::One => &self.one,
            Choice::Two => &self.two,
        }
    }
}

/// A user's 50 trait values, each in [-1, 1]: `{"vec1": 0.0, ..., "vec50": 0.0}` on the wire.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct TraitVector(pub [f64; TRAIT_COUNT]);

impl Default for TraitVector {
    fn default() -> Self {
        Self([0.0; TRAIT_COUNT])
    }
}

impl TraitVector {
    /// Adds `deltas`, clamping each trait to [-1, 1].
    pub fn apply(&mut self, deltas: &VectorDeltas) {
        for &(index, delta) in deltas.entries() {
            self.0[index] = clamp(self.0[index] + delta);
        }
    }

    /// Sets the traits `values` names (already in range).
    pub fn set(&mut self, values: &VectorDeltas) {
        for &(index, value) in values.entries() {
            self.0[index] = clamp(value);
        }
    }

    /// The stored form: a JSON array of 50 numbers.
    pub fn to_json(&self) -> String {
        serde_json::to_string(&self.0.to_vec()).unwrap_or_default()
    }

    /// Reads the stored form; a damaged value reads as zeros rather than failing every request.
    pub fn from_json(raw: &str) -> Self {
        let values: Vec<f64> = serde_json::from_str(raw).unwrap_or_default();
        let mut vector = Self::default();
        for (slot, value) in vector.0.iter_mut().zip(values) {
            *slot = clamp(value);
        }
        vector
    }
}

impl Serialize for TraitVector {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serialize_entries(self.0.iter().copied().enumerate(), serializer)
    }
}

/// A required text, trimmed, of 1 to `max` characters.
pub fn parse_text(raw: &str, max: usize) -> Result<String, String> {
    let text = raw.trim();
    if text.is_empty() {
        Err("must not be empty".into())
    } else if text.chars().count() > max {
        Err(format!("must be at most {max} characters"))
    } else {
        Ok(text.to_owned())
    }
}

/// A date, `YYYY-MM-DD`.
pub fn parse_date(raw: &str) -> Result<chrono::NaiveDate, &'static str> {
    chrono::NaiveDate::parse_from_str(raw, "%Y-%m-%d").map_err(|_| "must be a date (YYYY-MM-DD)")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn choices_are_the_strings_1_and_2() {
        assert_eq!(Choice::parse("1"), Ok(Choice::One));
        assert_eq!(Choice::parse("2").map(Choice::number), Ok(2));
        for bad in ["0", "3", " 1", "one", ""] {
            assert!(Choice::parse(bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn deltas_name_every_bad_key_and_value() {
        let ok = VectorDeltas::parse([("vec10", 0.5), ("vec2", -1.0)]).unwrap();
        assert_eq!(ok.entries(), [(1, -1.0), (9, 0.5)]);
        assert_eq!(serde_json::to_string(&ok).unwrap(), r#"{"vec2":-1.0,"vec10":0.5}"#);
        let err = VectorDeltas::parse([("vec51", 0.1), ("vec3", 1.5), ("vec4", f64::NAN), ("vec5", 0.0)]).unwrap_err();
        assert_eq!(err.iter().map(|(k, _)| k.as_str()).collect::<Vec<_>>(), ["vec51", "vec3", "vec4"]);
    }

    #[test]
    fn applying_deltas_clamps_each_trait() {
        let mut v = TraitVector::default();
        let push = VectorDeltas::parse([("vec1", 0.7), ("vec50", -0.7)]).unwrap();
        v.apply(&push);
        v.apply(&push);
        assert_eq!((v.0[0], v.0[49], v.0[1]), (1.0, -1.0, 0.0));
        let json = serde_json::to_value(v).unwrap();
        assert_eq!(json.as_object().unwrap().len(), 50);
        assert_eq!(json["vec1"], 1.0);
        assert_eq!(TraitVector::from_json(&v.to_json()), v);
    }

    #[test]
    fn option_deltas_round_trip_and_refuse_bad_keys() {
        let deltas: OptionDeltas = serde_json::from_str(r#"{"1": {"vec2": -0.1}, "2": {"vec2": 0.1}}"#).unwrap();
        assert_eq!(deltas.of(Choice::Two).entries(), [(1, 0.1)]);
        assert_eq!(serde_json::from_str::<OptionDeltas>(&serde_json::to_string(&deltas).unwrap()).unwrap(), deltas);
        assert!(serde_json::from_str::<OptionDeltas>(r#"{"1": {"vec99": 0.1}}"#).is_err());
        assert!(serde_json::from_str::<OptionDeltas>(r#"{"3": {"vec1": 0.1}}"#).is_err());
    }

    #[test]
    fn texts_are_trimmed_and_bounded_in_characters() {
        assert_eq!(parse_text("  질문  ", 2).unwrap(), "질문");
        assert!(parse_text("   ", 5).is_err());
        assert!(parse_text("abc", 2).is_err());
        assert!(parse_date("2026-02-30").is_err());
    }
}
