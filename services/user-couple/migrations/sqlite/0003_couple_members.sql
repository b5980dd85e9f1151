-- Who was ever a member of each couple. Breaking up clears users.couple_id, so this is what
-- tells, when an account is deleted, whether any former member of its couples still has one:
-- a deleted account's rows go with it, and a couple left without rows is erased (api.md, Erasure).
CREATE TABLE couple_members (
    couple_id  BLOB NOT NULL REFERENCES couples (id) ON DELETE CASCADE,
    user_id    BLOB NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    PRIMARY KEY (couple_id, user_id)
);
CREATE INDEX couple_members_user ON couple_members (user_id);

-- The members of the couples live now. A couple that ended before this migration has lost its
-- members (only its creator is known), so it has no rows and is never erased automatically:
-- erasing it when one member goes could take the shared data of a partner who still has an
-- account.
INSERT INTO couple_members (couple_id, user_id) SELECT couple_id, id FROM users WHERE couple_id IS NOT NULL;

-- Erasure of couples in the services that hold couple data, as erasure_outbox for accounts: one
-- row per couple and service, written in the transaction that deleted the last former member's
-- account, removed once the service confirms.
CREATE TABLE couple_erasure_outbox (
    couple_id        BLOB NOT NULL,
    service          TEXT NOT NULL,
    attempts         INTEGER NOT NULL DEFAULT 0,
    next_attempt_at  TEXT NOT NULL,
    created_at       TEXT NOT NULL,
    last_error       TEXT,
    PRIMARY KEY (couple_id, service)
);
CREATE INDEX couple_erasure_outbox_due ON couple_erasure_outbox (service, next_attempt_at);
