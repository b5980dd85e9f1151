//! Answers: submitting one (with its effect on the tag profile and the vector, in one unit of
//! work), my answers, and the reveal of a couple's answers to a question.

pub mod dto;
pub mod http;

use std::sync::Arc;

use couple_common::{Identity, PageQuery, clock::Clock};
use jiff::tz::TimeZone;
use tokio::sync::Notify;
use uuid::Uuid;

use crate::{
    config::VectorUpdates,
    error::{Error, Result},
    questions::{cache::QuestionCache, visible},
    store::{AnswerEffects, AnswerRecord, Store, StoreError, VectorWrite},
};

use dto::{AnswerState, NewAnswer, UserAnswer};

/// The answers of the service.
pub struct Answers {
    store: Arc<dyn Store>,
    questions: Arc<QuestionCache>,
    clock: Clock,
    zone: TimeZone,
    vector_write: VectorWrite,
    /// Wakes the outbox worker when an answer queued vector deltas.
    outbox: Arc<Notify>,
}

impl Answers {
    /// Answers on `store` (questions read through `questions`), days counted by `clock` in `zone`; `updates` says where the vector
    /// deltas go, `outbox` wakes the worker.
    pub fn new(
        store: Arc<dyn Store>,
        questions: Arc<QuestionCache>,
        clock: Clock,
        zone: TimeZone,
        updates: VectorUpdates,
        outbox: Arc<Notify>,
    ) -> Self {
        let vector_write = match updates {
            VectorUpdates::Transaction => VectorWrite::InTransaction,
            VectorUpdates::Outbox => VectorWrite::Outbox,
        };
        Self { store, questions, clock, zone, vector_write, outbox }
    }

    /// Stores the caller's answer and moves their tag scores and vector by the question's weights
    /// and the chosen option's deltas, all in one transaction; a second answer is a 409 and
    /// changes nothing.
    #[tracing::instrument(skip_all, fields(user_id = %identity.user_id))]
    pub async fn submit(&self, identity: &Identity, new: NewAnswer) -> Result<UserAnswer> {
        let question = visible(self.questions.get(new.question_id).await?, identity, self.clock.today(&self.zone))?;
        let effects = AnswerEffects {
            tag_deltas: question.tags.iter().map(|t| (t.tag_id, new.choice.sign() * t.weight)).collect(),
            vector_deltas: question.vector_deltas.of(new.choice).clone(),
            vector: self.vector_write,
        };
        let answer = AnswerRecord {
            id: Uuid::now_v7(),
            user_id: identity.user_id,
            question_id: question.id,
            couple_id: identity.couple_id,
            choice: new.choice,
            created_at: self.clock.now(),
        };
        let stored = match self.store.submit_answer(answer, effects).await {
            Ok(stored) => stored,
            Err(StoreError::Conflict) => return Err(Error::AlreadyAnswered),
            Err(e) => return Err(e.into()),
        };
        if self.vector_write == VectorWrite::Outbox {
            self.outbox.notify_one();
        }
        Ok(stored.into())
    }

    /// The caller's answers, newest first.
    #[tracing::instrument(skip_all, fields(user_id = %identity.user_id))]
    pub async fn mine(&self, identity: &Identity, page: &PageQuery) -> Result<(Vec<UserAnswer>, Option<String>)> {
        let answers = self.store.answers_of(identity.user_id, page.after()?, page.fetch()).await?;
        let (answers, next) = page.page(answers, |a| a.id);
        Ok((answers.into_iter().map(Into::into).collect(), next))
    }

    /// Where the caller's couple stands on a question.
    #[tracing::instrument(skip_all, fields(user_id = %identity.user_id))]
    pub async fn reveal(&self, identity: &Identity, question_id: Uuid) -> Result<AnswerState> {
        visible(self.questions.get(question_id).await?, identity, self.clock.today(&self.zone))?;
        answer_state(self.store.as_ref(), identity, question_id).await
    }
}

/// My answer to a question and, once I have one, my partner's: an answer to the same question
/// given under my couple by someone else.
pub async fn answer_state(store: &dyn Store, identity: &Identity, question_id: Uuid) -> Result<AnswerState> {
    let Some(mine) = store.answer_of(identity.user_id, question_id).await? else { return Ok(AnswerState::new(None, None)) };
    let partner = match identity.couple_id {
        Some(couple_id) => store.partner_answer(couple_id, identity.user_id, question_id).await?,
        None => None,
    };
    Ok(AnswerState::new(Some(mine), partner))
}
