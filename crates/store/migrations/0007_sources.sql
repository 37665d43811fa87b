-- Followed git branches, the pushes seen on them (an outbox: each is announced once), and
-- the GitHub webhook deliveries already acted on.

CREATE TABLE sources (
    name           TEXT PRIMARY KEY,
    url            TEXT NOT NULL,
    branch         TEXT NOT NULL,
    poll_seconds   INTEGER,             -- NULL: webhook only
    webhook_secret TEXT,
    head           TEXT,                -- the last commit announced
    created_at     INTEGER NOT NULL,
    updated_at     INTEGER NOT NULL
);

CREATE TABLE source_pushes (
    source     TEXT NOT NULL REFERENCES sources(name) ON DELETE CASCADE,
    after      TEXT NOT NULL,
    before     TEXT,
    detail     TEXT NOT NULL,           -- the Git Push event's detail, JSON
    emitted    INTEGER NOT NULL DEFAULT 0,
    created_at INTEGER NOT NULL,
    PRIMARY KEY (source, after)
);

CREATE TABLE webhook_deliveries (
    delivery    TEXT PRIMARY KEY,
    received_at INTEGER NOT NULL
);
