//! Questions: the admin's authoring, the catalogue, and today's question of a couple (or of a
//! user without one).

pub mod cache;
pub mod dto;
pub mod http;

use std::{collections::HashSet, sync::Arc};

use chrono::NaiveDate;
use couple_common::{Identity, PageQuery, Role, clock::Clock};
use jiff::tz::TimeZone;
use uuid::Uuid;

use crate::{
    answers,
    error::{Error, Result},
    require_admin,
    store::{Question, Scope, Store, StoreError},
};

use cache::QuestionCache;
use dto::{CreateQuestionRequest, QuestionDto, TodayQuestion};

/// The questions of the service.
pub struct Questions {
    store: Arc<dyn Store>,
    cache: Arc<QuestionCache>,
    clock: Clock,
    zone: TimeZone,
}

impl Questions {
    /// Questions on `store` (read through `cache`), with days counted by `clock` in `zone`.
    pub fn new(store: Arc<dyn Store>, cache: Arc<QuestionCache>, clock: Clock, zone: TimeZone) -> Self {
        Self { store, cache, clock, zone }
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

    /// A question; one dated after today is an admin's secret until its day (404).
    #[tracing::instrument(skip_all)]
    pub async fn get(&self, identity: &Identity, id: Uuid) -> Result<QuestionDto> {
        Ok(visible(self.cache.get(id).await?, identity, self.clock.today(&self.zone))?.into())
    }

    /// A page of questions in creation order; for users, without those dated after today.
    #[tracing::instrument(skip_all)]
    pub async fn list(&self, identity: &Identity, page: &PageQuery) -> Result<(Vec<QuestionDto>, Option<String>)> {
        let dated_until = (identity.role != Role::Admin).then(|| self.clock.today(&self.zone));
        let questions = self.store.questions(page.after()?, page.fetch(), dated_until).await?;
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
        let question = self.cache.get(id).await?.ok_or(Error::NoQuestion)?;
        let answers = answers::answer_state(self.store.as_ref(), identity, id).await?;
        Ok(TodayQuestion { question: question.into(), day, answers })
    }

    /// Erases a couple's rotation of daily questions, once no former member has an account.
    #[tracing::instrument(skip_all, fields(%couple_id))]
    pub async fn erase_couple(&self, couple_id: Uuid) -> Result<()> {
        Ok(self.store.erase_couple(couple_id).await?)
    }
}

/// `question` if the caller may see it: a question dated after `today` stays hidden from users
/// until its day (it is that day's question for everyone), so it is 404 to them like a missing one.
pub(crate) fn visible(question: Option<Question>, identity: &Identity, today: NaiveDate) -> Result<Question> {
    question.filter(|q| identity.role == Role::Admin || q.date.is_none_or(|date| date <= today)).ok_or(Error::QuestionNotFound)
}
