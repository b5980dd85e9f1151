//! `question-answer [serve|migrate]`: configuration comes from `QUESTION_ANSWER_*` and `COUPLE_*`.

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    couple_common::kit::main::<question_answer::QuestionAnswer>().await
}
