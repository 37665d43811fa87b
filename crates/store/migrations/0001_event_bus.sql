-- The event bus: buses, rules, targets, functions, events, deliveries, dead letters,
-- archives and replays. Times are milliseconds since the Unix epoch (UTC).

CREATE TABLE buses (
    name        TEXT PRIMARY KEY,
    arn         TEXT NOT NULL,
    created_at  INTEGER NOT NULL
);

CREATE TABLE rules (
    bus           TEXT NOT NULL REFERENCES buses(name),
    name          TEXT NOT NULL,
    arn           TEXT NOT NULL,
    event_pattern TEXT,
    schedule      TEXT,
    state         TEXT NOT NULL CHECK (state IN ('ENABLED', 'DISABLED')),
    description   TEXT NOT NULL DEFAULT '',
    next_fire_at  INTEGER,
    created_at    INTEGER NOT NULL,
    updated_at    INTEGER NOT NULL,
    PRIMARY KEY (bus, name),
    CHECK ((event_pattern IS NULL) <> (schedule IS NULL))
);

CREATE TABLE targets (
    bus           TEXT NOT NULL,
    rule          TEXT NOT NULL,
    id            TEXT NOT NULL,
    kind          TEXT NOT NULL CHECK (kind IN ('function', 'http')),
    address       TEXT NOT NULL,          -- function name or URL
    http_headers  TEXT NOT NULL DEFAULT '{}',
    input_shape   TEXT NOT NULL DEFAULT '{}',
    max_attempts  INTEGER NOT NULL,
    max_age_secs  INTEGER NOT NULL,
    created_at    INTEGER NOT NULL,
    PRIMARY KEY (bus, rule, id),
    FOREIGN KEY (bus, rule) REFERENCES rules(bus, name) ON DELETE CASCADE
);

CREATE TABLE functions (
    name          TEXT PRIMARY KEY,
    arn           TEXT NOT NULL,
    command       TEXT NOT NULL,
    environment   TEXT NOT NULL DEFAULT '{}',
    timeout_secs  INTEGER NOT NULL,
    description   TEXT NOT NULL DEFAULT '',
    created_at    INTEGER NOT NULL
);

CREATE TABLE invocations (
    id            INTEGER PRIMARY KEY AUTOINCREMENT,
    function      TEXT NOT NULL,
    event_id      TEXT,
    started_at    INTEGER NOT NULL,
    duration_ms   INTEGER NOT NULL,
    outcome       TEXT NOT NULL,
    result        TEXT,
    logs          TEXT NOT NULL DEFAULT ''
);
CREATE INDEX invocations_by_function ON invocations (function, id);

CREATE TABLE events (
    seq           INTEGER PRIMARY KEY AUTOINCREMENT,
    id            TEXT NOT NULL UNIQUE,
    bus           TEXT NOT NULL,
    source        TEXT NOT NULL,
    detail_type   TEXT NOT NULL,
    time          INTEGER NOT NULL,
    ingested_at   INTEGER NOT NULL,
    replay_name   TEXT,
    matched_rules TEXT NOT NULL DEFAULT '[]',
    body          TEXT NOT NULL
);
CREATE INDEX events_by_time ON events (ingested_at);

-- Invariant: one row per (event, rule, target); state moves
-- pending -> in_progress -> (pending | succeeded | dead) and never back from a final state
-- except by an explicit redrive.
CREATE TABLE deliveries (
    id              INTEGER PRIMARY KEY AUTOINCREMENT,
    event_id        TEXT NOT NULL,
    bus             TEXT NOT NULL,
    rule            TEXT NOT NULL,
    target_id       TEXT NOT NULL,
    state           TEXT NOT NULL CHECK (state IN ('pending', 'in_progress', 'succeeded', 'dead')),
    attempts        INTEGER NOT NULL DEFAULT 0,
    next_attempt_at INTEGER NOT NULL,
    lease_until     INTEGER,
    created_at      INTEGER NOT NULL,
    age_from        INTEGER NOT NULL,       -- event age counts from here (reset by redrive)
    first_attempt_at INTEGER,
    last_attempt_at INTEGER,
    UNIQUE (event_id, bus, rule, target_id)
);
CREATE INDEX deliveries_due ON deliveries (state, next_attempt_at);
CREATE INDEX deliveries_by_event ON deliveries (event_id);

CREATE TABLE attempts (
    id            INTEGER PRIMARY KEY AUTOINCREMENT,
    delivery_id   INTEGER NOT NULL REFERENCES deliveries(id) ON DELETE CASCADE,
    attempt       INTEGER NOT NULL,
    started_at    INTEGER NOT NULL,
    duration_ms   INTEGER NOT NULL,
    outcome       TEXT NOT NULL CHECK (outcome IN ('succeeded', 'retriable', 'fatal')),
    error_code    TEXT,
    message       TEXT
);
CREATE INDEX attempts_by_delivery ON attempts (delivery_id);

CREATE TABLE dead_letters (
    id              INTEGER PRIMARY KEY AUTOINCREMENT,
    delivery_id     INTEGER NOT NULL UNIQUE REFERENCES deliveries(id) ON DELETE CASCADE,
    error_code      TEXT NOT NULL,
    error_message   TEXT NOT NULL,
    created_at      INTEGER NOT NULL
);

CREATE TABLE archives (
    name            TEXT PRIMARY KEY,
    arn             TEXT NOT NULL,
    bus             TEXT NOT NULL REFERENCES buses(name),
    event_pattern   TEXT,
    retention_days  INTEGER NOT NULL,
    description     TEXT NOT NULL DEFAULT '',
    created_at      INTEGER NOT NULL
);

CREATE TABLE archived_events (
    archive       TEXT NOT NULL REFERENCES archives(name) ON DELETE CASCADE,
    event_id      TEXT NOT NULL,
    time          INTEGER NOT NULL,
    body          TEXT NOT NULL,
    PRIMARY KEY (archive, event_id)
);
CREATE INDEX archived_events_by_time ON archived_events (archive, time);

CREATE TABLE replays (
    name            TEXT PRIMARY KEY,
    arn             TEXT NOT NULL,
    archive         TEXT NOT NULL,
    bus             TEXT NOT NULL,
    start_time      INTEGER NOT NULL,
    end_time        INTEGER NOT NULL,
    state           TEXT NOT NULL,
    state_reason    TEXT NOT NULL DEFAULT '',
    events_replayed INTEGER NOT NULL DEFAULT 0,
    last_replayed   INTEGER,
    started_at      INTEGER NOT NULL,
    ended_at        INTEGER
);
