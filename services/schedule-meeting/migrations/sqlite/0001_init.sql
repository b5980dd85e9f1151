-- A couple's schedules and meetings, the places catalogue the meetings visit, and the secret
-- calendar feed URLs.

-- The shipped catalogue, upserted at every start; places no longer shipped stay (meetings name them).
CREATE TABLE places (
    id          BLOB PRIMARY KEY NOT NULL,
    slug        TEXT NOT NULL UNIQUE,
    name        TEXT NOT NULL,
    name_en     TEXT NOT NULL,
    -- Both names lower-cased, for the case-insensitive name search.
    search      TEXT NOT NULL,
    city        TEXT NOT NULL,
    address     TEXT NOT NULL,
    category    TEXT NOT NULL,
    rating      REAL NOT NULL,
    latitude    REAL NOT NULL,
    longitude   REAL NOT NULL,
    indoor      INTEGER NOT NULL,
    -- JSON array of theme words.
    keywords    TEXT NOT NULL,
    -- JSON object: trait name -> -1..1.
    profile     TEXT NOT NULL
);
CREATE INDEX places_location ON places (latitude, longitude);
CREATE INDEX places_category ON places (category);

CREATE TABLE schedules (
    id          BLOB PRIMARY KEY NOT NULL,
    couple_id   BLOB NOT NULL,
    name        TEXT NOT NULL,
    message     TEXT NOT NULL,
    date_time   TEXT NOT NULL,
    created_by  BLOB NOT NULL,
    created_at  TEXT NOT NULL,
    updated_at  TEXT NOT NULL
);
CREATE INDEX schedules_couple_time ON schedules (couple_id, date_time, id);

CREATE TABLE meetings (
    id          BLOB PRIMARY KEY NOT NULL,
    couple_id   BLOB NOT NULL,
    name        TEXT NOT NULL,
    date        TEXT NOT NULL,
    start_time  TEXT NOT NULL,
    end_time    TEXT NOT NULL,
    -- JSON array of theme words.
    keywords    TEXT NOT NULL,
    created_by  BLOB NOT NULL,
    created_at  TEXT NOT NULL,
    updated_at  TEXT NOT NULL
);
CREATE INDEX meetings_couple_date ON meetings (couple_id, date, start_time, id);

-- A meeting's course: its places in order.
CREATE TABLE meeting_places (
    meeting_id  BLOB NOT NULL REFERENCES meetings (id) ON DELETE CASCADE,
    sequence    INTEGER NOT NULL,
    place_id    BLOB NOT NULL REFERENCES places (id),
    PRIMARY KEY (meeting_id, sequence)
);
CREATE INDEX meeting_places_place ON meeting_places (place_id);

-- Secret iCalendar feed URLs: the secret is the credential, so it is unique.
CREATE TABLE calendar_feeds (
    id          BLOB PRIMARY KEY NOT NULL,
    couple_id   BLOB NOT NULL,
    secret      TEXT NOT NULL UNIQUE,
    created_by  BLOB NOT NULL,
    created_at  TEXT NOT NULL,
    revoked_at  TEXT
);
CREATE INDEX calendar_feeds_couple ON calendar_feeds (couple_id, created_at);
CREATE INDEX calendar_feeds_creator ON calendar_feeds (created_by);
