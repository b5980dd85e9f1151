//! The seed set of tags and questions that ships with the service (`seed/questions.json`,
//! built into the binary), so a fresh install has content. Loading it upserts by each entry's
//! stable `key`: a restart or a second replica starting at once changes nothing, and an edited
//! seed updates what changed.

use std::collections::HashSet;

use chrono::{DateTime, Utc};
use serde::Deserialize;

use crate::{
    domain::{self, OptionDeltas},
    store::{SeedQuestion, SeedTag, Store, StoreResult},
};

/// The shipped seed.
pub const SEED_JSON: &str = include_str!("../seed/questions.json");

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct SeedFile {
    tags: Vec<TagEntry>,
    questions: Vec<QuestionEntry>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct TagEntry {
    key: String,
    name: String,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
struct QuestionEntry {
    key: String,
    question: String,
    option1: String,
    option2: String,
    tags: Vec<TagWeight>,
    #[serde(default)]
    vector_deltas: OptionDeltas,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct TagWeight {
    tag: String,
    weight: f64,
}

/// A parsed, consistent seed.
#[derive(Debug, Clone)]
pub struct Seed {
    /// The tags.
    pub tags: Vec<SeedTag>,
    /// The questions.
    pub questions: Vec<SeedQuestion>,
}

/// Parses a seed and checks it is consistent: unique keys and tag names, texts within the API's
/// bounds, known tags with weights in (0, 1], deltas with valid keys and values (their
/// deserialisation checks those).
pub fn parse(raw: &str) -> Result<Seed, String> {
    let file: SeedFile = serde_json::from_str(raw).map_err(|e| format!("seed/questions.json: {e}"))?;
    let mut tag_keys = HashSet::new();
    let mut tag_names = HashSet::new();
    for tag in &file.tags {
        domain::parse_text(&tag.name, crate::tags::dto::MAX_TAG_CHARS).map_err(|e| format!("tag {}: name {e}", tag.key))?;
        if !tag_keys.insert(tag.key.as_str()) || !tag_names.insert(tag.name.as_str()) {
            return Err(format!("tag {} is listed twice", tag.key));
        }
    }
    let mut question_keys = HashSet::new();
    let mut questions = Vec::with_capacity(file.questions.len());
    for q in file.questions {
        if !question_keys.insert(q.key.clone()) {
            return Err(format!("question {} is listed twice", q.key));
        }
        use crate::questions::dto::{MAX_OPTION_CHARS, MAX_QUESTION_CHARS};
        for (text, max) in [(&q.question, MAX_QUESTION_CHARS), (&q.option1, MAX_OPTION_CHARS), (&q.option2, MAX_OPTION_CHARS)] {
            domain::parse_text(text, max).map_err(|e| format!("question {}: text {e}", q.key))?;
        }
        let mut tags = Vec::new();
        for t in &q.tags {
            if !tag_keys.contains(t.tag.as_str()) {
                return Err(format!("question {}: unknown tag {}", q.key, t.tag));
            }
            if !(t.weight > 0.0 && t.weight <= 1.0) || tags.iter().any(|(k, _)| k == &t.tag) {
                return Err(format!("question {}: tag {} has a bad weight or is listed twice", q.key, t.tag));
            }
            tags.push((t.tag.clone(), t.weight));
        }
        questions.push(SeedQuestion {
            key: q.key,
            question: q.question.trim().to_owned(),
            option1: q.option1.trim().to_owned(),
            option2: q.option2.trim().to_owned(),
            tags,
            vector_deltas: q.vector_deltas,
        });
    }
    let tags = file.tags.into_iter().map(|t| SeedTag { key: t.key, name: t.name.trim().to_owned() }).collect();
    Ok(Seed { tags, questions })
}

/// The shipped seed, parsed.
pub fn shipped() -> Result<Seed, String> {
    parse(SEED_JSON)
}

/// Loads `seed` into `store` (upserting by key).
#[tracing::instrument(skip_all, fields(questions = seed.questions.len()))]
pub async fn load(store: &dyn Store, seed: &Seed, now: DateTime<Utc>) -> StoreResult<()> {
    store.load_seed(&seed.tags, &seed.questions, now).await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn inconsistent_seeds_are_refused() {
        let ok = r#"{"tags": [{"key": "t", "name": "T"}], "questions": [{"key": "q1", "question": "?", "option1": "a", "option2": "b",
            "tags": [{"tag": "t", "weight": 0.5}], "vectorDeltas": {"1": {"vec1": 0.1}, "2": {"vec1": -0.1}}}]}"#;
        assert_eq!(parse(ok).unwrap().questions[0].tags, [("t".to_owned(), 0.5)]);
        for (bad, why) in [
            (ok.replace(r#""tag": "t""#, r#""tag": "x""#), "unknown tag"),
            (ok.replace("0.5", "1.5"), "bad weight"),
            (ok.replace("vec1\": 0.1", "vec77\": 0.1"), "trait key"),
            (ok.replace(r#""question": "?""#, r#""question": " ""#), "empty"),
        ] {
            let err = parse(&bad).unwrap_err();
            assert!(err.contains(why), "{why}: {err}");
        }
    }
}
