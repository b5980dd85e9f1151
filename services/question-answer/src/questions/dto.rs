//! The bodies of `/api/questions*`, as the API documents them (camelCase on the wire), and what
//! the requests parse into.

use std::collections::{BTreeMap, HashSet};

use chrono::{DateTime, NaiveDate, Utc};
use couple_common::{FieldErrors, validate::Fields};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use uuid::Uuid;

use crate::{
    answers::dto::AnswerState,
    domain::{self, OptionDeltas, VectorDeltas},
    store::{self, NewQuestion},
};

/// Longest question text, in characters.
pub const MAX_QUESTION_CHARS: usize = 500;
/// Longest option text, in characters.
pub const MAX_OPTION_CHARS: usize = 200;
/// Most tags on a question.
pub const MAX_TAGS: usize = 10;

/// A tag on a question, in `POST /api/questions`.
#[derive(Debug, Default, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct QuestionTagBody {
    /// An existing tag's id.
    #[schema(required = true, nullable = false, format = Uuid)]
    pub tag_id: Option<String>,
    /// In (0, 1]: option 1 adds it to the user's tag score, option 2 subtracts it.
    #[schema(required = true, nullable = false, exclusive_minimum = 0.0, maximum = 1.0)]
    pub weight: Option<f64>,
}

/// `POST /api/questions`.
#[derive(Debug, Default, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct CreateQuestionRequest {
    /// The question (1 to 500 characters).
    #[schema(required = true, nullable = false, min_length = 1, max_length = 500, pattern = r"\S")]
    pub question: Option<String>,
    /// Option 1 (1 to 200 characters).
    #[schema(required = true, nullable = false, min_length = 1, max_length = 200, pattern = r"\S")]
    pub option1: Option<String>,
    /// Option 2 (1 to 200 characters).
    #[schema(required = true, nullable = false, min_length = 1, max_length = 200, pattern = r"\S")]
    pub option2: Option<String>,
    /// The day it is every couple's question (YYYY-MM-DD); at most one question per day.
    #[schema(format = Date)]
    pub date: Option<String>,
    /// Up to 10 distinct tags.
    #[schema(max_items = 10)]
    pub tags: Option<Vec<QuestionTagBody>>,
    /// Per option, trait deltas in [-1, 1]: `{"1": {"vec3": 0.2}, "2": {"vec3": -0.2}}`.
    #[schema(value_type = Object)]
    pub vector_deltas: Option<BTreeMap<String, BTreeMap<String, f64>>>,
}

/// A tag of a question.
#[derive(Debug, Clone, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct QuestionTagDto {
    /// Tag id.
    pub tag_id: Uuid,
    /// Tag name.
    pub tag_name: String,
    /// Weight in (0, 1].
    pub weight: f64,
}

/// A question.
#[derive(Debug, Clone, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct QuestionDto {
    /// Question id.
    pub id: Uuid,
    /// The question.
    pub question: String,
    /// Option 1.
    pub option1: String,
    /// Option 2.
    pub option2: String,
    /// The day it is every couple's question, or null.
    pub date: Option<NaiveDate>,
    /// Its tags.
    pub tags: Vec<QuestionTagDto>,
    /// Per option, the trait deltas an answer adds: `{"1": {"vecN": d}, "2": {...}}`.
    #[schema(value_type = Object)]
    pub vector_deltas: OptionDeltas,
    /// Creation time.
    pub created_at: DateTime<Utc>,
}

impl From<store::Question> for QuestionDto {
    fn from(q: store::Question) -> Self {
        Self {
            id: q.id,
            question: q.question,
            option1: q.option1,
            option2: q.option2,
            date: q.date,
            tags: q.tags.into_iter().map(|t| QuestionTagDto { tag_id: t.tag_id, tag_name: t.tag_name, weight: t.weight }).collect(),
            vector_deltas: q.vector_deltas,
            created_at: q.created_at,
        }
    }
}

/// `GET /api/questions/today`: the question, the day it is for, and where the caller's couple
/// stands on it.
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct TodayQuestion {
    /// The question.
    #[serde(flatten)]
    pub question: QuestionDto,
    /// The day (YYYY-MM-DD) in the platform's time zone.
    pub day: NaiveDate,
    /// The caller's and the partner's answers, as `GET /api/questions/{id}/answers` gives them.
    pub answers: AnswerState,
}

/// A valid question body, minus what only the store can check (the tags' existence).
impl CreateQuestionRequest {
    /// Parses the body; `known_tags` are the tag ids that exist. Every problem is collected.
    pub fn parse(self, known_tags: &HashSet<Uuid>, id: Uuid, now: DateTime<Utc>) -> Result<NewQuestion, FieldErrors> {
        let mut f = Fields::default();
        let question = f.required("question", self.question, |v| domain::parse_text(v, MAX_QUESTION_CHARS));
        let option1 = f.required("option1", self.option1, |v| domain::parse_text(v, MAX_OPTION_CHARS));
        let option2 = f.required("option2", self.option2, |v| domain::parse_text(v, MAX_OPTION_CHARS));
        let date = f.optional("date", self.date, domain::parse_date);
        let tags = parse_tags(&mut f, self.tags.unwrap_or_default(), known_tags);
        let vector_deltas = parse_option_deltas(&mut f, self.vector_deltas.unwrap_or_default());
        f.finish(|| {
            Some(NewQuestion {
                id,
                seed_key: None,
                question: question?,
                option1: option1?,
                option2: option2?,
                date,
                tags,
                vector_deltas,
                now,
            })
        })
    }
}

fn parse_tags(f: &mut Fields, tags: Vec<QuestionTagBody>, known: &HashSet<Uuid>) -> Vec<(Uuid, f64)> {
    if tags.len() > MAX_TAGS {
        f.record("tags", format!("at most {MAX_TAGS} tags"));
        return Vec::new();
    }
    let mut parsed = Vec::new();
    for (i, tag) in tags.into_iter().enumerate() {
        let tag_id = f.required(&format!("tags[{i}].tagId"), tag.tag_id, |v| match Uuid::parse_str(v) {
            Ok(id) if known.contains(&id) => Ok(id),
            Ok(_) => Err("no such tag"),
            Err(_) => Err("must be a tag id"),
        });
        let weight = f.present(&format!("tags[{i}].weight"), tag.weight).and_then(|w| {
            f.check(&format!("tags[{i}].weight"), if w.is_finite() && w > 0.0 && w <= 1.0 { Ok(w) } else { Err("must be in (0, 1]") })
        });
        if let Some(id) = tag_id {
            if parsed.iter().any(|(seen, _)| *seen == id) {
                f.record(&format!("tags[{i}].tagId"), "is listed twice");
            } else if let Some(weight) = weight {
                parsed.push((id, weight));
            }
        }
    }
    parsed
}

fn parse_option_deltas(f: &mut Fields, raw: BTreeMap<String, BTreeMap<String, f64>>) -> OptionDeltas {
    let mut deltas = OptionDeltas::default();
    for (option, values) in raw {
        let parsed = VectorDeltas::parse(values.iter().map(|(k, v)| (k.as_str(), *v)));
        let parsed = match parsed {
            Ok(parsed) => parsed,
            Err(problems) => {
                for (key, problem) in problems {
                    f.record(&format!("vectorDeltas.{option}.{key}"), problem);
                }
                continue;
            }
        };
        match option.as_str() {
            "1" => deltas.one = parsed,
            "2" => deltas.two = parsed,
            _ => f.record(&format!("vectorDeltas.{option}"), "options are \"1\" and \"2\""),
        }
    }
    deltas
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn every_bad_field_of_a_question_is_named() {
        let known = Uuid::now_v7();
        let body: CreateQuestionRequest = serde_json::from_value(json!({
            "question": " ", "option1": "x".repeat(201), "date": "2026-13-01",
            "tags": [{"tagId": Uuid::now_v7().to_string(), "weight": 0.5}, {"tagId": known.to_string(), "weight": 0.0}, {"tagId": "nope"}],
            "vectorDeltas": {"1": {"vec51": 0.1, "vec2": 2.0}, "3": {"vec1": 0.1}}
        }))
        .unwrap();
        let fields = body.parse(&HashSet::from([known]), Uuid::now_v7(), Utc::now()).unwrap_err();
        for field in [
            "question",
            "option1",
            "option2",
            "date",
            "tags[0].tagId",
            "tags[1].weight",
            "tags[2].tagId",
            "tags[2].weight",
            "vectorDeltas.1.vec51",
            "vectorDeltas.1.vec2",
            "vectorDeltas.3",
        ] {
            assert!(fields.contains_key(field), "{field} missing from {fields:?}");
        }
    }

    #[test]
    fn a_valid_question_parses() {
        let tag = Uuid::now_v7();
        let body: CreateQuestionRequest = serde_json::from_value(json!({
            "question": "Beach or mountain?", "option1": "Beach", "option2": "Mountain", "date": "2026-12-24",
            "tags": [{"tagId": tag.to_string(), "weight": 1.0}], "vectorDeltas": {"1": {"vec1": 0.2}, "2": {"vec1": -0.2}}
        }))
        .unwrap();
        let q = body.parse(&HashSet::from([tag]), Uuid::now_v7(), Utc::now()).unwrap();
        assert_eq!((q.tags, q.date.map(|d| d.to_string())), (vec![(tag, 1.0)], Some("2026-12-24".into())));
        assert_eq!(q.vector_deltas.two.entries(), [(0, -0.2)]);
    }
}
