-- Accounts, couples and refresh-token sessions.
CREATE TABLE couples (
    id          UUID PRIMARY KEY,
    name        TEXT NOT NULL,
    start_date  DATE NOT NULL,
    created_by  UUID,
    created_at  TIMESTAMPTZ NOT NULL,
    ended_at    TIMESTAMPTZ
);

CREATE TABLE users (
    id             UUID PRIMARY KEY,
    email          TEXT NOT NULL,
    -- Lower-cased email: uniqueness and lookups are case-insensitive.
    email_key      TEXT NOT NULL UNIQUE,
    password_hash  TEXT NOT NULL,
    name           TEXT NOT NULL,
    gender         TEXT NOT NULL CHECK (gender IN ('M', 'F')),
    birth          DATE NOT NULL,
    fcm_code       TEXT,
    send_time      TEXT,
    role           TEXT NOT NULL DEFAULT 'user' CHECK (role IN ('user', 'admin')),
    couple_id      UUID REFERENCES couples (id),
    -- Bumped on logout, password change, break-up and deletion; tokens carry it.
    token_version  BIGINT NOT NULL DEFAULT 0,
    created_at     TIMESTAMPTZ NOT NULL,
    updated_at     TIMESTAMPTZ NOT NULL
);
CREATE INDEX users_couple_id ON users (couple_id);

CREATE TABLE refresh_tokens (
    id          UUID PRIMARY KEY,
    -- All tokens rotated from one login share a family; reuse of a spent one revokes it.
    family_id   UUID NOT NULL,
    user_id     UUID NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    token_hash  TEXT NOT NULL UNIQUE,
    created_at  TIMESTAMPTZ NOT NULL,
    expires_at  TIMESTAMPTZ NOT NULL,
    used_at     TIMESTAMPTZ,
    revoked_at  TIMESTAMPTZ
);
CREATE INDEX refresh_tokens_family ON refresh_tokens (family_id);
CREATE INDEX refresh_tokens_user ON refresh_tokens (user_id);
