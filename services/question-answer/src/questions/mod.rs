//! Questions: the admin's authoring, the catalogue, and today's question of a couple (or of a
//! user without one).

pub mod dto;
pub mod http;

use std::{collections::HashSet, sync::Arc};

use couple_common::{Identity, PageQuery, clock::Clock};
use jiff::tz::TimeZone;
use uuid::Uuid;

use crate::{
    answers,
    error::{Error, Result},
    require_admin,
    store::{Scope, Store, StoreError},
};

use dto::{CreateQuestionRequest, QuestionDto, TodayQuestion};

/// The questions of the service.
pub struct Questions {
    store: Arc<dyn Store>,
    clock: Clock,
    zone: TimeZone,
}

impl Questions {
    /// Questions on `store`, with days counted by `clock` in `zone`.
    pub fn new(store: Arc<dyn Store>, clock: Clock, zone: TimeZone) -> Self {
        Self { store, clock, zone }
    }

    /// Creates a question (admins only).
    #[tracing::instrument(skip_all, fields(user_id = %identity.user_id))]
    pub async fn create(&self, identity: &Identity, req: CreateQuestionRequest) -> Result<QuestionDto> {
        require_admin(identity)?;
        let known: HashSet<Uuid> = self.store.tags().await?.into_iter().map(|t| t.id).collect();
        let new = req.parse(&known, Uuid::now_v7(), self.clock.now())?;
        match self.store.create_question(new).await {
            Ok(question) => Ok(question.into()),
            Err(StoreError::Conflict) => Err(Error::DateTaken),
            Err(e) => Err(e.into()),
        }
    }

    /// A question.
    #[tracing::instrument(skip_all)]
    pub async fn get(&self, id: Uuid) -> Result<QuestionDto> {
        Ok(self.store.question(id).await?.ok_or(Error::QuestionNotFound)?.into())
    }

    /// A page of questions in creation order.
    #[tracing::instrument(skip_all)]
    pub async fn list(&self, page: &PageQuery) -> Result<(Vec<QuestionDto>, Option<String>)> {
        let questions = self.store.questions(page.after()?, page.fetch()).await?;
        let (questions, next) = page.page(questions, |q| q.id);
        Ok((questions.into_iter().map(Into::into).collect(), next))
    }

    /// Today's question of the caller's couple (or of the caller without one), with where they
    /// stand on it. The same all day, and the same for both partners.
    #[tracing::instrument(skip_all, fields(user_id = %identity.user_id))]
    pub async fn today(&self, identity: &Identity) -> Result<TodayQuestion> {
        let day = self.clock.today(&self.zone);
        let scope = Scope { user_id: identity.user_id, couple_id: identity.couple_id };
        let id = self.store.daily_question(scope, day, self.clock.now()).await?.ok_or(Error::NoQuestion)?;
        let question = self.store.question(id).await?.ok_or(Error::NoQuestion)?;
        let answers = answers::answer_state(self.store.as_ref(), identity, id).await?;
        Ok(TodayQuestion { question: question.into(), day, answers })
    }
}
