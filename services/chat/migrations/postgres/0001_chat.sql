-- A couple's chat rooms, their messages in per-room order, and each member's read marker.

CREATE TABLE chat_rooms (
    id          UUID PRIMARY KEY,
    couple_id   UUID NOT NULL,
    name        TEXT NOT NULL,
    is_default  BOOLEAN NOT NULL,
    -- NULL for the default room, which nobody creates explicitly.
    created_by  UUID,
    created_at  TIMESTAMPTZ NOT NULL,
    -- The seq of the newest message: the row is locked to assign the next one.
    last_seq    BIGINT NOT NULL DEFAULT 0
);
CREATE INDEX chat_rooms_couple ON chat_rooms (couple_id, created_at, id);
-- At most one default room per couple; concurrent first uses insert with ON CONFLICT on it.
CREATE UNIQUE INDEX chat_rooms_one_default ON chat_rooms (couple_id) WHERE is_default;

CREATE TABLE chat_messages (
    id          UUID PRIMARY KEY,
    room_id     UUID NOT NULL REFERENCES chat_rooms (id) ON DELETE CASCADE,
    seq         BIGINT NOT NULL,
    sender_id   UUID NOT NULL,
    nickname    TEXT,
    message     TEXT NOT NULL,
    -- Checked by the service to be a message of the same room; messages are deleted only with
    -- their room, so no foreign key is needed.
    parent_id   UUID,
    client_id   TEXT,
    created_at  TIMESTAMPTZ NOT NULL,
    UNIQUE (room_id, seq)
);
-- A sender's idempotency key: a resend finds the stored message by it.
CREATE UNIQUE INDEX chat_messages_client ON chat_messages (room_id, sender_id, client_id) WHERE client_id IS NOT NULL;

CREATE TABLE chat_reads (
    room_id        UUID NOT NULL REFERENCES chat_rooms (id) ON DELETE CASCADE,
    user_id        UUID NOT NULL,
    last_read_seq  BIGINT NOT NULL,
    last_read_id   UUID NOT NULL,
    updated_at     TIMESTAMPTZ NOT NULL,
    PRIMARY KEY (room_id, user_id)
);
-- Erasing a user deletes their markers.
CREATE INDEX chat_reads_user ON chat_reads (user_id);
