-- Accounts, couples and refresh-token sessions.
CREATE TABLE couples (
    id          BLOB PRIMARY KEY NOT NULL,
    name        TEXT NOT NULL,
    start_date  TEXT NOT NULL,
    created_by  BLOB,
    created_at  TEXT NOT NULL,
    ended_at    TEXT
);

CREATE TABLE users (
    id             BLOB PRIMARY KEY NOT NULL,
    email          TEXT NOT NULL,
    -- Lower-cased email: uniqueness and lookups are case-insensitive.
    email_key      TEXT NOT NULL UNIQUE,
    password_hash  TEXT NOT NULL,
    name           TEXT NOT NULL,
    gender         TEXT NOT NULL CHECK (gender IN ('M', 'F')),
    birth          TEXT NOT NULL,
    fcm_code       TEXT,
    send_time      TEXT,
    role           TEXT NOT NULL DEFAULT 'user' CHECK (role IN ('user', 'admin')),
    couple_id      BLOB REFERENCES couples (id),
    -- Bumped on logout, password change, break-up and deletion; tokens carry it.
    token_version  INTEGER NOT NULL DEFAULT 0,
    created_at     TEXT NOT NULL,
    updated_at     TEXT NOT NULL
);
CREATE INDEX users_couple_id ON users (couple_id);

CREATE TABLE refresh_tokens (
    id          BLOB PRIMARY KEY NOT NULL,
    -- All tokens rotated from one login share a family; reuse of a spent one revokes it.
    family_id   BLOB NOT NULL,
    user_id     BLOB NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    token_hash  TEXT NOT NULL UNIQUE,
    created_at  TEXT NOT NULL,
    expires_at  TEXT NOT NULL,
    used_at     TEXT,
    revoked_at  TEXT
);
CREATE INDEX refresh_tokens_family ON refresh_tokens (family_id);
CREATE INDEX refresh_tokens_user ON refresh_tokens (user_id);
