//! The bodies of `/api/user-answers*` and `/api/questions/{id}/answers`.

use chrono::{DateTime, Utc};
use couple_common::{FieldErrors, validate::Fields};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use uuid::Uuid;

use crate::{domain::Choice, store::AnswerRecord};

/// `POST /api/user-answers`.
#[derive(Debug, Default, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct CreateAnswerRequest {
    /// The question answered.
    #[schema(required = true, nullable = false, format = Uuid)]
    pub question_id: Option<String>,
    /// `"1"` or `"2"`.
    #[schema(required = true, nullable = false, pattern = "^[12]$", example = "1")]
    pub selected_option: Option<String>,
}

/// A valid answer.
#[derive(Debug, Clone, Copy)]
pub struct NewAnswer {
    /// The question.
    pub question_id: Uuid,
    /// The option chosen.
    pub choice: Choice,
}

impl TryFrom<CreateAnswerRequest> for NewAnswer {
    type Error = FieldErrors;

    fn try_from(req: CreateAnswerRequest) -> Result<Self, FieldErrors> {
        let mut f = Fields::default();
        let question_id = f.required("questionId", req.question_id, |v| Uuid::parse_str(v).map_err(|_| "must be a question id"));
        let choice = f.required("selectedOption", req.selected_option, Choice::parse);
        f.finish(|| Some(Self { question_id: question_id?, choice: choice? }))
    }
}

/// An answer.
#[derive(Debug, Clone, PartialEq, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct UserAnswer {
    /// Answer id.
    pub id: Uuid,
    /// The question.
    pub question_id: Uuid,
    /// `"1"` or `"2"`.
    #[schema(example = "1")]
    pub selected_option: String,
    /// When.
    pub created_at: DateTime<Utc>,
}

impl From<AnswerRecord> for UserAnswer {
    fn from(a: AnswerRecord) -> Self {
        Self { id: a.id, question_id: a.question_id, selected_option: a.choice.as_str().to_owned(), created_at: a.created_at }
    }
}

/// Where a couple stands on a question.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum RevealState {
    /// I have not answered (the partner's answer stays hidden).
    Unanswered,
    /// I answered, the partner has not.
    Waiting,
    /// Both answered.
    Revealed,
}

/// `GET /api/questions/{id}/answers`: my answer and, once I have answered, my partner's.
#[derive(Debug, Clone, PartialEq, Serialize, ToSchema)]
pub struct AnswerState {
    /// `unanswered`, `waiting` or `revealed`.
    pub state: RevealState,
    /// My answer, or null.
    pub mine: Option<UserAnswer>,
    /// My partner's answer: null unless both answered.
    pub partner: Option<UserAnswer>,
}

impl AnswerState {
    /// The state from my answer and my partner's; the partner's is dropped unless I answered.
    pub fn new(mine: Option<AnswerRecord>, partner: Option<AnswerRecord>) -> Self {
        match (mine, partner) {
            (None, _) => Self { state: RevealState::Unanswered, mine: None, partner: None },
            (Some(mine), None) => Self { state: RevealState::Waiting, mine: Some(mine.into()), partner: None },
            (Some(mine), Some(partner)) => Self { state: RevealState::Revealed, mine: Some(mine.into()), partner: Some(partner.into()) },
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn answer() -> AnswerRecord {
        AnswerRecord {
            id: Uuid::now_v7(),
            user_id: Uuid::now_v7(),
            question_id: Uuid::now_v7(),
            couple_id: None,
            choice: Choice::Two,
            created_at: Utc::now(),
        }
    }

    #[test]
    fn the_partners_answer_shows_only_once_i_answered() {
        let hidden = AnswerState::new(None, Some(answer()));
        assert_eq!((hidden.state, hidden.partner), (RevealState::Unanswered, None));
        assert_eq!(AnswerState::new(Some(answer()), None).state, RevealState::Waiting);
        let both = AnswerState::new(Some(answer()), Some(answer()));
        assert_eq!((both.state, both.partner.unwrap().selected_option.as_str()), (RevealState::Revealed, "2"));
    }

    #[test]
    fn an_answer_body_names_both_bad_fields() {
        let fields =
            NewAnswer::try_from(CreateAnswerRequest { question_id: Some("x".into()), selected_option: Some("3".into()) }).unwrap_err();
        assert_eq!(fields.keys().collect::<Vec<_>>(), ["questionId", "selectedOption"]);
    }
}
