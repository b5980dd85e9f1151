-- Questions, tags, answers, tag profiles, trait vectors, daily assignments and the vector outbox.
CREATE TABLE tags (
    id          UUID PRIMARY KEY,
    -- The seed's stable key: seeding upserts by it; NULL for tags an admin created.
    seed_key    TEXT UNIQUE,
    name        TEXT NOT NULL UNIQUE,
    created_at  TIMESTAMPTZ NOT NULL
);

CREATE TABLE questions (
    id             UUID PRIMARY KEY,
    seed_key       TEXT UNIQUE,
    question       TEXT NOT NULL,
    option1        TEXT NOT NULL,
    option2        TEXT NOT NULL,
    -- A dated question is every scope's question that day; one per day.
    date           DATE UNIQUE,
    -- {"1": {"vecN": delta}, "2": {...}}
    vector_deltas  TEXT NOT NULL,
    created_at     TIMESTAMPTZ NOT NULL
);

CREATE TABLE question_tags (
    question_id  UUID NOT NULL REFERENCES questions (id) ON DELETE CASCADE,
    tag_id       UUID NOT NULL REFERENCES tags (id) ON DELETE CASCADE,
    weight       DOUBLE PRECISION NOT NULL,
    PRIMARY KEY (question_id, tag_id)
);

CREATE TABLE user_answers (
    id               UUID PRIMARY KEY,
    user_id          UUID NOT NULL,
    question_id      UUID NOT NULL REFERENCES questions (id) ON DELETE CASCADE,
    -- The couple at answer time: the partner's answer is found by it.
    couple_id        UUID,
    selected_option  INTEGER NOT NULL CHECK (selected_option IN (1, 2)),
    created_at       TIMESTAMPTZ NOT NULL,
    UNIQUE (user_id, question_id)
);
CREATE INDEX user_answers_couple ON user_answers (couple_id, question_id);
CREATE INDEX user_answers_question ON user_answers (question_id);

CREATE TABLE user_tag_profiles (
    user_id     UUID NOT NULL,
    tag_id      UUID NOT NULL REFERENCES tags (id) ON DELETE CASCADE,
    score       DOUBLE PRECISION NOT NULL,
    updated_at  TIMESTAMPTZ NOT NULL,
    PRIMARY KEY (user_id, tag_id)
);

CREATE TABLE user_vectors (
    user_id      UUID PRIMARY KEY,
    -- JSON array of the 50 trait values.
    vectors      TEXT NOT NULL,
    -- The last outbox sequence number applied: a repeated application is a no-op.
    applied_seq  BIGINT NOT NULL DEFAULT 0,
    updated_at   TIMESTAMPTZ NOT NULL
);

-- The question of the day per scope (a couple, or a user without one). The primary key makes two
-- partners asking at the same instant agree on one.
CREATE TABLE daily_questions (
    scope_id     UUID NOT NULL,
    day          DATE NOT NULL,
    question_id  UUID NOT NULL REFERENCES questions (id) ON DELETE CASCADE,
    created_at   TIMESTAMPTZ NOT NULL,
    PRIMARY KEY (scope_id, day)
);
CREATE INDEX daily_questions_scope_question ON daily_questions (scope_id, question_id);

-- Vector deltas waiting for the external vector store, per user in sequence order.
CREATE TABLE vector_outbox (
    user_id     UUID NOT NULL,
    seq         BIGINT NOT NULL,
    deltas      TEXT NOT NULL,
    created_at  TIMESTAMPTZ NOT NULL,
    done_at     TIMESTAMPTZ,
    PRIMARY KEY (user_id, seq)
);
CREATE INDEX vector_outbox_pending ON vector_outbox (user_id, seq) WHERE done_at IS NULL;

-- The last outbox sequence number handed out per user.
CREATE TABLE vector_outbox_seq (
    user_id   UUID PRIMARY KEY,
    last_seq  BIGINT NOT NULL
);
