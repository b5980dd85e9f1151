//! The service's OpenAPI document, served at `/openapi.json` (with the shared error bodies,
//! bearer scheme and standard responses added by `server::app`) and merged by the gateway.

use utoipa::OpenApi;

use crate::{answers::http as answers, internal, questions::http as questions, tags::http as tags, vectors::http as vectors};

/// The document.
#[derive(OpenApi)]
#[openapi(
    info(title = "Question-Answer service", description = "Daily questions, answers, tag profiles and trait vectors."),
    paths(
        questions::create, questions::list, questions::today, questions::question,
        answers::submit, answers::my_answers, answers::reveal,
        tags::list, tags::create, tags::my_profiles,
        vectors::create, vectors::trait_space, vectors::my_vector, vectors::put_vector, vectors::set_trait, vectors::delete_vector,
        internal::vector, internal::vectors_batch, internal::erase_user, internal::erase_couple,
    ),
    tags((name = "questions", description = "Questions and today's question"), (name = "answers", description = "Answers and their reveal"),
        (name = "tags", description = "Tags and tag profiles"), (name = "vectors", description = "Trait vectors"),
        (name = "internal", description = "Service-to-service; never routed by the gateway")),
)]
pub struct ApiDoc;
