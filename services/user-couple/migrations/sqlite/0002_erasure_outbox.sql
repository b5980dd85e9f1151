-- Erasure of deleted accounts in the services that hold user data: one row per account and
-- service, written in the deletion's transaction and removed once the service confirms.
CREATE TABLE erasure_outbox (
    user_id          BLOB NOT NULL,
    service          TEXT NOT NULL,
    -- Deliveries started so far; the backoff grows with it.
    attempts         INTEGER NOT NULL DEFAULT 0,
    -- When the row may be claimed next: a claim moves it ahead, so other replicas skip it.
    next_attempt_at  TEXT NOT NULL,
    created_at       TEXT NOT NULL,
    last_error       TEXT,
    PRIMARY KEY (user_id, service)
);
CREATE INDEX erasure_outbox_due ON erasure_outbox (service, next_attempt_at);
